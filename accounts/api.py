"""Upstream accounts over REST for admins (/api/v1/admin/accounts).

The JSON follows the reference's mapper rules (S1, S3, S4, S5): secrets never leave the server (only
`has_*` flags); quota keys only for apikey/bedrock accounts and only for the dimensions that have a limit,
with the period's usage shown as 0 once the period has ended; fixed-reset settings only in fixed mode;
the cache-TTL override only where it applies. Bodies may carry the settings flat, or the way sub2api
clients send them: credentials in `credentials`, quota and override settings in `extra`.
"""

from datetime import UTC, datetime

from django.db.models import Prefetch
from django.utils import timezone

from accounts import quota
from accounts.models import Account, Proxy
from accounts.services import AccountRuleError, save_account
from apikeys.services import KeyRuleError, parse_expires_at
from core.payload import UNSET, Payload, get_or_404, iso, parse_id
from core.rest import ApiError, ok, page
from groups.api import existing_group_ids
from groups.models import Group, Platform
from users.authentication import AdminView

SECRET_FIELDS = ("api_key", "access_token", "refresh_token", "aws_secret_access_key", "aws_session_token")
QUOTA_LIMITS = ("quota_limit", "quota_daily_limit", "quota_weekly_limit")
QUOTA_SETTINGS_DEFAULTS = {
    "quota_daily_reset_mode": quota.ROLLING,
    "quota_daily_reset_hour": 0,
    "quota_weekly_reset_mode": quota.ROLLING,
    "quota_weekly_reset_day": 1,
    "quota_weekly_reset_hour": 0,
    "quota_reset_timezone": "UTC",
}
CACHE_TTL_TARGETS = ("5m", "1h")


# --- JSON --------------------------------------------------------------------------------------------------


def _quota_json(account: Account, now: datetime) -> dict:
    data = {}
    if account.quota_limit > 0:
        data.update(quota_limit=account.quota_limit, quota_used=account.quota_used)
    for period in quota.PERIODS:
        limit = getattr(account, period.field("limit"))
        if limit > 0:
            data[period.field("limit")] = limit
            data[period.field("used")] = quota.used_now(account, period, now)
    daily_fixed = account.quota_daily_reset_mode == quota.FIXED
    weekly_fixed = account.quota_weekly_reset_mode == quota.FIXED
    if daily_fixed:
        data.update(
            quota_daily_reset_mode=quota.FIXED,
            quota_daily_reset_hour=account.quota_daily_reset_hour,
            quota_daily_reset_at=iso(quota.resets_at(account, quota.DAILY, now)),
        )
    if weekly_fixed:
        data.update(
            quota_weekly_reset_mode=quota.FIXED,
            quota_weekly_reset_day=account.quota_weekly_reset_day,
            quota_weekly_reset_hour=account.quota_weekly_reset_hour,
            quota_weekly_reset_at=iso(quota.resets_at(account, quota.WEEKLY, now)),
        )
    if daily_fixed or weekly_fixed:
        data["quota_reset_timezone"] = account.quota_reset_timezone
    return data


def present_account(account: Account, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    groups = sorted(account.groups.all(), key=lambda g: (g.sort_order, g.id))
    data = {
        "id": account.id,
        "name": account.name,
        "notes": account.notes,
        "platform": account.platform,
        "type": account.type,
        "base_url": account.base_url,
        "has_api_key": bool(account.api_key),
        "has_access_token": bool(account.access_token),
        "has_refresh_token": bool(account.refresh_token),
        "token_expires_at": iso(account.token_expires_at),
        "proxy_id": account.proxy_id,
        "model_mapping": account.model_mapping,
        "allowed_models": account.allowed_models,
        "concurrency": account.concurrency,
        "priority": account.priority,
        "load_factor": account.load_factor,
        "rate_multiplier": account.rate_multiplier,
        "status": account.status,
        "schedulable": account.schedulable,
        "error_message": account.error_message,
        "last_used_at": iso(account.last_used_at),
        "expires_at": iso(account.expires_at),
        "auto_pause_on_expired": account.auto_pause_on_expired,
        "rate_limited_at": iso(account.rate_limited_at),
        "rate_limit_reset_at": iso(account.rate_limit_reset_at),
        "overload_until": iso(account.overload_until),
        "temp_unschedulable_until": iso(account.temp_unschedulable_until),
        "temp_unschedulable_reason": account.temp_unschedulable_reason,
        "pool_mode": account.pool_mode,
        "pool_mode_retry_count": account.pool_mode_retry_count,
        "group_ids": [g.id for g in groups],
        "groups": [{"id": g.id, "name": g.name, "platform": g.platform, "sort_order": g.sort_order} for g in groups],
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
    }
    if account.type == Account.Type.BEDROCK:
        data.update(
            auth_mode=account.bedrock_auth_mode,
            aws_access_key_id=account.aws_access_key_id,
            has_aws_secret_access_key=bool(account.aws_secret_access_key),
            has_aws_session_token=bool(account.aws_session_token),
            aws_region=account.aws_region,
            aws_force_global=account.aws_force_global,
        )
    if quota.applies(account):
        data.update(_quota_json(account, now))
    if account.is_oauth and account.cache_ttl_override:
        data.update(cache_ttl_override_enabled=True, cache_ttl_override_target=account.cache_ttl_override)
    return data


# --- input ---------------------------------------------------------------------------------------------


class AccountBody:
    """The fields of a create/update body, wherever the client put them (top level, extra, credentials)."""

    def __init__(self, data):
        top = Payload(data)
        self.extra_given = top.obj("extra")
        self.credentials = top.obj("credentials")
        self.extra = {} if self.extra_given is UNSET else self.extra_given
        merged = {**(self.credentials if self.credentials is not UNSET else {}), **self.extra}
        merged.update({k: v for k, v in top.data.items() if k not in ("extra", "credentials")})
        self.payload = Payload(merged)

    def has(self, name) -> bool:
        return name in self.payload


def _apply(account: Account, body: AccountBody, creating: bool) -> list[int] | None:
    """Copy the body onto the account; returns the group ids to set (None = leave memberships)."""
    p = body.payload
    account_type = p.string("type", required=creating)
    if account_type is not UNSET:
        if account_type not in Account.Type.values:
            raise ApiError(400, f"type: must be one of {', '.join(Account.Type.values)}")
        account.type = account_type
    simple = {
        "name": p.string("name", required=creating, blank=False, max_length=100),
        "notes": p.string("notes", strip=False, max_length=10_000),
        "platform": p.string("platform", choices=Platform.values),
        "base_url": p.string("base_url", max_length=200),
        "concurrency": p.integer("concurrency", min_value=0, max_value=100_000),
        "priority": p.integer("priority", min_value=-(2**31)),
        "rate_multiplier": p.money("rate_multiplier", max_value=1_000_000),
        "status": p.string("status", choices=Account.Status.values),
        "schedulable": p.boolean("schedulable"),
        "auto_pause_on_expired": p.boolean("auto_pause_on_expired"),
        "model_mapping": p.str_map("model_mapping"),
        "allowed_models": p.str_list("allowed_models"),
        "pool_mode": p.boolean("pool_mode"),
        "pool_mode_retry_count": p.integer("pool_mode_retry_count", min_value=0, max_value=10),
        "aws_access_key_id": p.string("aws_access_key_id", max_length=128),
        "aws_region": p.string("aws_region", max_length=32),
    }
    for field, value in simple.items():
        if value is not UNSET:
            setattr(account, field, value)
    if simple["base_url"] not in (UNSET, "") and not simple["base_url"].startswith(("http://", "https://")):
        raise ApiError(400, "base_url: must be an http:// or https:// URL")
    for field in SECRET_FIELDS:
        value = p.string(field, max_length=20_000)
        if value not in (UNSET, ""):  # empty or absent on an edit keeps the stored secret
            setattr(account, field, value)
    if "aws_force_global" in p:
        raw = p.raw("aws_force_global")
        if not isinstance(raw, bool | str):
            raise ApiError(400, "aws_force_global: must be true or false")
        account.aws_force_global = raw is True or raw == "true"
    auth_mode = p.string("auth_mode") if "auth_mode" in p else p.string("bedrock_auth_mode")
    if auth_mode is not UNSET:
        if auth_mode not in Account.BedrockAuth.values:
            raise ApiError(400, f"auth_mode: must be one of {', '.join(Account.BedrockAuth.values)}")
        account.bedrock_auth_mode = auth_mode
    if "load_factor" in p.data:
        value = p.integer("load_factor", min_value=0, max_value=100_000)
        account.load_factor = None if value is UNSET or value == 0 else value
    if "proxy_id" in p.data:
        raw = p.raw("proxy_id")
        account.proxy = None if raw is UNSET or raw == 0 else get_or_404(Proxy.objects.all(), raw, "Proxy")
    if "expires_at" in p.data:
        account.expires_at = _timestamp(p.raw("expires_at"), "expires_at")
    _apply_quota_settings(account, body, creating)
    _apply_cache_ttl(account, body, creating)
    group_ids = p.id_list("group_ids", "group")
    if group_ids is UNSET:
        return None
    return existing_group_ids(group_ids, "group_ids")


def _timestamp(raw, field):
    """Unix seconds (as the reference sends account expiry) or RFC 3339; null/0/"" clears."""
    if raw is UNSET or raw == 0 or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ApiError(400, f"{field}: not a valid unix timestamp")
    if isinstance(raw, str):
        try:
            return parse_expires_at(raw)
        except KeyRuleError:
            raise ApiError(400, f"{field}: must be unix seconds or an RFC 3339 timestamp")
    raise ApiError(400, f"{field}: must be unix seconds or an RFC 3339 timestamp")


def _apply_quota_settings(account: Account, body: AccountBody, creating: bool) -> None:
    """Limits and reset settings. Used amounts and period starts are never taken from the client (S4).

    A present `extra` object replaces the settings: a setting missing from it goes back to its default
    (so `extra: {}` switches the quota off); an absent `extra` leaves unmentioned settings untouched.
    """
    p = body.payload
    replace = body.extra_given is not UNSET and not creating
    for field in QUOTA_LIMITS:
        value = p.money(field)
        if value is not UNSET:
            setattr(account, field, value)
        elif replace:
            setattr(account, field, 0)
    for field, default in QUOTA_SETTINGS_DEFAULTS.items():
        value = p.integer(field, min_value=None) if isinstance(default, int) else p.string(field, max_length=64)
        if value is not UNSET:
            setattr(account, field, value)
        elif replace:
            setattr(account, field, default)


def _apply_cache_ttl(account: Account, body: AccountBody, creating: bool) -> None:
    p = body.payload
    enabled = p.boolean("cache_ttl_override_enabled")
    target = p.string("cache_ttl_override_target")
    direct = p.string("cache_ttl_override")
    if direct is not UNSET:
        if direct not in ("", *CACHE_TTL_TARGETS):
            raise ApiError(400, "cache_ttl_override: must be empty, 5m or 1h")
        account.cache_ttl_override = direct
    elif enabled is True:
        account.cache_ttl_override = target if target in CACHE_TTL_TARGETS else "5m"  # unknown → 5m (S5)
    elif enabled is False or (body.extra_given is not UNSET and not creating):
        account.cache_ttl_override = ""


def _accounts():
    return Account.objects.prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("sort_order", "id")))


def _save(account: Account, group_ids) -> Account:
    try:
        save_account(account, group_ids)
    except AccountRuleError as exc:
        raise ApiError(400, exc.message)
    return _accounts().get(pk=account.pk)


# --- views ---------------------------------------------------------------------------------------------


class AccountListView(AdminView):
    def get(self, request):
        accounts = _accounts().order_by("priority", "id")
        params = request.query_params
        for name in ("platform", "type", "status"):
            if params.get(name):
                accounts = accounts.filter(**{name: params[name]})
        if params.get("group_id"):
            accounts = accounts.filter(memberships__group_id=parse_id(params["group_id"], "group"))
        if params.get("search"):
            accounts = accounts.filter(name__icontains=params["search"])
        now = timezone.now()
        return page(request, accounts, lambda a: present_account(a, now))

    def post(self, request):
        account = Account()
        group_ids = _apply(account, AccountBody(request.data), creating=True)
        return ok(present_account(_save(account, group_ids)))


def _account(pk) -> Account:
    return get_or_404(_accounts(), pk, "Account", "ACCOUNT_NOT_FOUND")


class AccountDetailView(AdminView):
    def get(self, request, pk):
        return ok(present_account(_account(pk)))

    def put(self, request, pk):
        account = _account(pk)
        group_ids = _apply(account, AccountBody(request.data), creating=False)
        return ok(present_account(_save(account, group_ids)))

    def delete(self, request, pk):
        _account(pk).delete()
        return ok({"message": "Account deleted successfully"})


class AccountActionView(AdminView):
    """POST /accounts/{id}/<action>: one model method, then the refreshed account."""

    action = ""  # set per route: reset_quota | clear_error | clear_rate_limit

    def post(self, request, pk):
        account = _account(pk)
        getattr(account, self.action)()  # each action tells the scheduler itself
        return ok(present_account(_account(account.pk)))
