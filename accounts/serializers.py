"""Upstream accounts over REST: the request body and the answer.

The answer follows the reference's mapper rules (S1, S3, S4, S5): secrets never leave the server (only
`has_*` flags); quota keys only for apikey/bedrock accounts and only for the dimensions that have a
limit, with the period's usage shown as 0 once the period has ended; fixed-reset settings only in fixed
mode; Bedrock settings only for Bedrock; the cache-TTL override only where it applies.

A body may carry the settings flat, or the way sub2api clients send them: credentials in
`credentials`, quota and override settings in `extra` (a flat field wins over both).
"""

from collections.abc import Mapping
from datetime import UTC, datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import limits, quota
from accounts.models import Account, BetaRule, Proxy
from apikeys.services import KeyRuleError, parse_expires_at
from core.rest import ApiError
from core.serializers import (
    Answer,
    Bool,
    Choice,
    Id,
    IdList,
    Integer,
    ModelBody,
    Money,
    Text,
    TextList,
    TextMap,
)

SECRET_FIELDS = ("api_key", "access_token", "refresh_token", "aws_secret_access_key", "aws_session_token")
QUOTA_LIMITS = ("quota_limit", "quota_daily_limit", "quota_weekly_limit")
QUOTA_SETTINGS = (
    "quota_daily_reset_mode", "quota_daily_reset_hour", "quota_weekly_reset_mode", "quota_weekly_reset_day",
    "quota_weekly_reset_hour", "quota_reset_timezone",
)
CACHE_TTL_TARGETS = ("5m", "1h")
BEDROCK_FIELDS = ("auth_mode", "aws_access_key_id", "has_aws_secret_access_key", "has_aws_session_token",
                  "aws_region", "aws_force_global")
QUOTA_KEYS = (
    "quota_limit", "quota_used", "quota_daily_limit", "quota_daily_used", "quota_weekly_limit", "quota_weekly_used",
    "quota_daily_reset_mode", "quota_daily_reset_hour", "quota_daily_reset_at", "quota_weekly_reset_mode",
    "quota_weekly_reset_day", "quota_weekly_reset_hour", "quota_weekly_reset_at", "quota_reset_timezone",
)
CACHE_TTL_KEYS = ("cache_ttl_override_enabled", "cache_ttl_override_target")
LIMIT_SETTINGS = (  # Anthropic OAuth / setup-token accounts (accounts/limits.py)
    "base_rpm", "rpm_strategy", "rpm_sticky_buffer", "max_sessions", "session_idle_timeout_minutes",
    "window_cost_limit", "window_cost_sticky_reserve",
)
LIMIT_KEYS = (*LIMIT_SETTINGS, "rpm_now", "sessions_now", "window_cost", "window_cost_resets_at")


# --- the answer ----------------------------------------------------------------------------------------


class AccountGroupOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    platform = serializers.CharField()
    sort_order = serializers.IntegerField()


class AccountOut(Answer):
    base_url = serializers.CharField(read_only=True, help_text="empty = the platform's default")
    has_api_key = serializers.SerializerMethodField()
    has_access_token = serializers.SerializerMethodField()
    has_refresh_token = serializers.SerializerMethodField()
    model_mapping = serializers.DictField(child=serializers.CharField(allow_blank=True), read_only=True)
    allowed_models = serializers.ListField(child=serializers.CharField(), read_only=True)
    proxy_id = serializers.IntegerField(read_only=True, allow_null=True)
    group_ids = serializers.SerializerMethodField()
    groups = serializers.SerializerMethodField()
    # The keys below appear only where they apply (not required):
    # Bedrock only
    auth_mode = serializers.ChoiceField(Account.BedrockAuth.choices, required=False)
    aws_access_key_id = serializers.CharField(required=False)
    has_aws_secret_access_key = serializers.BooleanField(required=False)
    has_aws_session_token = serializers.BooleanField(required=False)
    aws_region = serializers.CharField(required=False)
    aws_force_global = serializers.BooleanField(required=False)
    # apikey / bedrock accounts, dimensions that have a limit; reset settings in fixed mode only
    quota_limit = Money(required=False)
    quota_used = Money(required=False)
    quota_daily_limit = Money(required=False)
    quota_daily_used = Money(required=False)
    quota_weekly_limit = Money(required=False)
    quota_weekly_used = Money(required=False)
    quota_daily_reset_mode = serializers.ChoiceField([quota.FIXED], required=False)
    quota_daily_reset_hour = serializers.IntegerField(required=False)
    quota_daily_reset_at = serializers.DateTimeField(required=False)
    quota_weekly_reset_mode = serializers.ChoiceField([quota.FIXED], required=False)
    quota_weekly_reset_day = serializers.IntegerField(help_text="0 = Sunday", required=False)
    quota_weekly_reset_hour = serializers.IntegerField(required=False)
    quota_weekly_reset_at = serializers.DateTimeField(required=False)
    quota_reset_timezone = serializers.CharField(required=False)
    # OAuth / setup-token accounts with an override
    cache_ttl_override_enabled = serializers.BooleanField(required=False)
    cache_ttl_override_target = serializers.ChoiceField(CACHE_TTL_TARGETS, required=False)
    # Anthropic OAuth / setup-token accounts: their limits and where they stand now
    base_rpm = serializers.IntegerField(required=False, help_text="0 = no limit")
    rpm_strategy = serializers.ChoiceField(Account.RpmStrategy.choices, required=False)
    rpm_sticky_buffer = serializers.IntegerField(required=False, help_text="the buffer in effect")
    max_sessions = serializers.IntegerField(required=False, help_text="0 = no limit")
    session_idle_timeout_minutes = serializers.IntegerField(required=False)
    window_cost_limit = Money(required=False)
    window_cost_sticky_reserve = Money(required=False)
    rpm_now = serializers.IntegerField(required=False, help_text="requests counted in this minute")
    sessions_now = serializers.IntegerField(required=False, help_text="sessions active within the idle timeout")
    window_cost = Money(required=False, help_text="account cost in the current 5-hour window")
    window_cost_resets_at = serializers.DateTimeField(required=False, allow_null=True)

    class Meta:
        model = Account
        fields = [
            "id", "name", "notes", "platform", "type", "base_url", "has_api_key", "has_access_token",
            "has_refresh_token", "token_expires_at", "proxy_id", "model_mapping", "allowed_models", "concurrency",
            "priority", "load_factor", "rate_multiplier", "status", "schedulable", "error_message", "last_used_at",
            "expires_at", "auto_pause_on_expired", "rate_limited_at", "rate_limit_reset_at", "overload_until",
            "temp_unschedulable_until", "temp_unschedulable_reason", "pool_mode", "pool_mode_retry_count",
            "group_ids", "groups", "created_at", "updated_at", *BEDROCK_FIELDS, *QUOTA_KEYS, *CACHE_TTL_KEYS,
            *LIMIT_KEYS,
        ]
        read_only_fields = [
            f for f in fields if f not in (*BEDROCK_FIELDS, *QUOTA_KEYS, *CACHE_TTL_KEYS, *LIMIT_KEYS)
        ]

    CONDITIONAL = frozenset((*BEDROCK_FIELDS, *QUOTA_KEYS, *CACHE_TTL_KEYS, *LIMIT_KEYS))

    @property
    def _readable_fields(self):
        return (f for f in super()._readable_fields if f.field_name not in self.CONDITIONAL)

    def get_has_api_key(self, account) -> bool:
        return bool(account.api_key)

    def get_has_access_token(self, account) -> bool:
        return bool(account.access_token)

    def get_has_refresh_token(self, account) -> bool:
        return bool(account.refresh_token)

    def _groups(self, account):
        return sorted(account.groups.all(), key=lambda g: (g.sort_order, g.id))

    def get_group_ids(self, account) -> list[int]:
        return [g.id for g in self._groups(account)]

    @extend_schema_field(AccountGroupOut(many=True))
    def get_groups(self, account):
        return [{"id": g.id, "name": g.name, "platform": g.platform, "sort_order": g.sort_order}
                for g in self._groups(account)]

    def to_representation(self, account):
        data = super().to_representation(account)
        fields = self.fields
        extra = {}
        if account.type == Account.Type.BEDROCK:
            extra.update(
                auth_mode=account.bedrock_auth_mode, aws_access_key_id=account.aws_access_key_id,
                has_aws_secret_access_key=bool(account.aws_secret_access_key),
                has_aws_session_token=bool(account.aws_session_token), aws_region=account.aws_region,
                aws_force_global=account.aws_force_global,
            )
        if quota.applies(account):
            extra.update(_quota_json(account, self.context.get("now") or timezone.now()))
        if limits.applies(account):
            extra.update(_limits_json(account))
        if account.is_oauth and account.cache_ttl_override:
            extra.update(cache_ttl_override_enabled=True, cache_ttl_override_target=account.cache_ttl_override)
        data.update({name: fields[name].to_representation(value) if value is not None else None
                     for name, value in extra.items()})
        return data


def _limits_json(account: Account) -> dict:
    current = limits.now([account])[account.pk]
    return {
        **{name: getattr(account, name) for name in LIMIT_SETTINGS},
        "rpm_sticky_buffer": limits.sticky_buffer(account), "rpm_now": current["rpm"],
        "sessions_now": current["sessions"], "window_cost": current["window_cost"],
        "window_cost_resets_at": current["window_resets"],
    }


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
            quota_daily_reset_mode=quota.FIXED, quota_daily_reset_hour=account.quota_daily_reset_hour,
            quota_daily_reset_at=quota.resets_at(account, quota.DAILY, now),
        )
    if weekly_fixed:
        data.update(
            quota_weekly_reset_mode=quota.FIXED, quota_weekly_reset_day=account.quota_weekly_reset_day,
            quota_weekly_reset_hour=account.quota_weekly_reset_hour,
            quota_weekly_reset_at=quota.resets_at(account, quota.WEEKLY, now),
        )
    if daily_fixed or weekly_fixed:
        data["quota_reset_timezone"] = account.quota_reset_timezone
    return data


# --- the body ------------------------------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}]})
class ForceGlobal(serializers.Field):
    """sub2api sends `aws_force_global` as the string "true"; a boolean is read too."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str):
            return data == "true"
        self.fail("invalid")


@extend_schema_field({
    "oneOf": [{"type": "integer", "minimum": 0, "maximum": 253402300799}, {"type": "string"}], "nullable": True,
    "description": "unix seconds or an RFC 3339 timestamp; null, 0 or \"\" removes the expiry",
})
class Expiry(serializers.Field):
    default_error_messages = {"invalid": "must be unix seconds or an RFC 3339 timestamp"}

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data):
        if data in (0, "") and not isinstance(data, bool):
            return None
        if isinstance(data, int) and not isinstance(data, bool):
            try:
                return datetime.fromtimestamp(data, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise serializers.ValidationError("not a valid unix timestamp")
        if isinstance(data, str):
            try:
                return parse_expires_at(data)
            except KeyRuleError:
                pass
        self.fail("invalid")


class AccountBody(ModelBody):
    """Create an account (name and type required) or update one (`partial`: absent fields stay).

    Secrets empty or absent keep the stored ones. On an update, an `extra` object replaces the quota and
    cache-TTL settings and the limits (base_rpm, max_sessions, window_cost_limit, ...): a setting missing from it
    goes back to its default (`extra: {}` switches the quota
    off). Used amounts and period starts are never taken from a client (S4).
    """

    api_key = Text(required=False, allow_blank=True, max_length=20_000, write_only=True)
    access_token = Text(required=False, allow_blank=True, max_length=20_000, write_only=True)
    refresh_token = Text(required=False, allow_blank=True, max_length=20_000, write_only=True)
    aws_secret_access_key = Text(required=False, allow_blank=True, max_length=20_000, write_only=True)
    aws_session_token = Text(required=False, allow_blank=True, max_length=20_000, write_only=True)
    base_url = Text(required=False, allow_blank=True, max_length=200, help_text="empty = the platform's default")
    auth_mode = Choice(Account.BedrockAuth.choices, required=False, help_text="Bedrock: sigv4 or apikey")
    bedrock_auth_mode = Choice(Account.BedrockAuth.choices, required=False, help_text="the same as auth_mode")
    aws_force_global = ForceGlobal(required=False)
    model_mapping = TextMap(required=False, model_patterns=True,
                            help_text='{"requested model": "upstream model"}; keys may end with *')
    allowed_models = TextList(required=False, model_patterns=True, help_text="model names; an item may end with *")
    load_factor = Integer(required=False, allow_null=True, min_value=0, max_value=2**31 - 1,
                          help_text="null or 0 = the concurrency")
    pool_mode_retry_count = Integer(required=False, help_text="0 to 10; beyond is clamped")
    proxy_id = Id("proxy", zero_clears=True, allow_null=True, required=False, help_text="null or 0 = no proxy")
    expires_at = Expiry(required=False)
    cache_ttl_override = Choice(["", *CACHE_TTL_TARGETS], required=False)
    cache_ttl_override_enabled = Bool(required=False)
    cache_ttl_override_target = Text(required=False, allow_blank=True, max_length=10,
                                     help_text="5m or 1h; anything else counts as 5m")
    group_ids = IdList("group", required=False)
    credentials = serializers.DictField(required=False, help_text="credential fields, as sub2api clients send them")
    extra = serializers.DictField(required=False, help_text="quota, cache-TTL and limit settings (sub2api shape)")

    class Meta:
        model = Account
        fields = [
            "name", "notes", "platform", "type", "base_url", "concurrency", "priority", "load_factor",
            "rate_multiplier", "status", "schedulable", "auto_pause_on_expired", "model_mapping", "allowed_models",
            "pool_mode", "pool_mode_retry_count", "aws_access_key_id", "aws_region", "aws_force_global",
            "auth_mode", "bedrock_auth_mode", *SECRET_FIELDS, "proxy_id", "expires_at", *QUOTA_LIMITS,
            *QUOTA_SETTINGS, "cache_ttl_override", "cache_ttl_override_enabled", "cache_ttl_override_target",
            *LIMIT_SETTINGS, "group_ids", "credentials", "extra",
        ]
        extra_kwargs = {"notes": {"trim_whitespace": False, "max_length": 10_000}}

    def run_validation(self, data=serializers.empty):
        """Read `credentials`, then `extra`, then the top level into one flat body."""
        self.extra_given = False
        if isinstance(data, Mapping):
            nested = {}
            for name in ("credentials", "extra"):
                value = data.get(name)
                if value is not None and not isinstance(value, Mapping):
                    raise serializers.ValidationError({name: ["must be an object"]})
                nested.update(value or {})
            self.extra_given = isinstance(data.get("extra"), Mapping)
            data = {**nested, **{k: v for k, v in data.items() if k not in ("credentials", "extra")}}
        return super().run_validation(data)

    def validate_base_url(self, url):
        if url and not url.startswith(("http://", "https://")):
            raise serializers.ValidationError("must be an http:// or https:// URL")
        return url

    def validate_proxy_id(self, pk):
        if pk is not None and not Proxy.objects.filter(pk=pk).exists():
            raise ApiError(404, "Proxy not found")
        return pk

    def validate_group_ids(self, ids):
        from groups.api import existing_group_ids

        return existing_group_ids(ids, "group_ids")

    def apply(self, account: Account) -> list[int] | None:
        """Copy the body onto the account; returns the group ids to set (None = leave memberships)."""
        data = dict(self.validated_data)
        creating = self.instance is None
        group_ids = data.pop("group_ids", None)
        for name in SECRET_FIELDS:
            if not data.get(name):
                data.pop(name, None)  # empty or absent on an edit keeps the stored secret
        auth_mode = data.pop("auth_mode", None) or data.pop("bedrock_auth_mode", None)
        data.pop("bedrock_auth_mode", None)
        if auth_mode:
            data["bedrock_auth_mode"] = auth_mode
        if data.get("load_factor", 1) in (None, 0):
            data["load_factor"] = None
        if "proxy_id" in data:
            data["proxy"] = Proxy.objects.filter(pk=data.pop("proxy_id")).first()
        if self.extra_given and not creating:  # a present `extra` replaces the settings
            defaults = {
                f: Account._meta.get_field(f).get_default() for f in (*QUOTA_LIMITS, *QUOTA_SETTINGS, *LIMIT_SETTINGS)
            }
            data = {**defaults, **data}
        enabled = data.pop("cache_ttl_override_enabled", None)
        target = data.pop("cache_ttl_override_target", None)
        if "cache_ttl_override" not in data:
            if enabled is True:
                data["cache_ttl_override"] = target if target in CACHE_TTL_TARGETS else "5m"  # unknown → 5m (S5)
            elif enabled is False or (self.extra_given and not creating):
                data["cache_ttl_override"] = ""
        for name, value in data.items():
            setattr(account, name, value)
        return group_ids


class AccountCreateBody(AccountBody):
    class Meta(AccountBody.Meta):
        extra_kwargs = {**AccountBody.Meta.extra_kwargs, "type": {"required": True}}


# --- the Beta Policy (GET/PUT /api/v1/admin/settings/beta-policy) ----------------------------------------


class BetaRuleJson(Answer):
    class Meta:
        model = BetaRule
        fields = ["beta_token", "action", "scope", "error_message"]
        extra_kwargs = {"scope": {"required": False}, "error_message": {"required": False}}


class BetaPolicyJson(serializers.Serializer):
    """The rules in order. A PUT body is checked by accounts.betapolicy.validate, whose refusals name the
    rule ("rule[2]: invalid scope"), the same for the admin and the API."""

    rules = BetaRuleJson(many=True)
