"""Creating and changing API keys (spec S7): the one home of these rules.

The REST API (user and admin), the Django admin and the `create_api_key` command all go through
`create_key` / `update_key`, so the reactivation rules and the group binding rules cannot drift apart.
Values arrive already typed (Decimal, datetime, Group); `clean_quota`, `parse_expires_at` and
`clean_ip_list` turn client input into those types with the messages the API answers with.
"""

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apikeys import cache, windows
from apikeys.models import ApiKey, generate_secret, hash_key
from core.columns import limits
from core.money import to_decimal
from core.rules import RuleError

UNSET = object()  # "not in the request": the field stays as it is
MAX_EXPIRES_IN_DAYS = 36_500
USER_SETTABLE_STATUSES = (ApiKey.Status.ACTIVE, ApiKey.Status.INACTIVE)

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


class KeyRuleError(RuleError):
    """A key change that the rules refuse. `status`/`reason` are what the REST API answers with."""


# --- turning client input into typed values ----------------------------------------------------------


def clean_quota(value, field: str = "quota") -> Decimal:
    """USD amount within the quota column's bounds (0 = unlimited); NaN and infinity are refused."""
    low, high = limits(ApiKey._meta.get_field("quota"))
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise KeyRuleError(f"{field}: must be a number")
    try:
        amount = to_decimal(value)
    except (ValueError, ArithmeticError):  # ArithmeticError: too many digits to quantize
        raise KeyRuleError(f"{field}: must be a finite number of at most {high}")
    if amount < low:
        raise KeyRuleError(f"{field}: must be >= {low}")
    if amount > high:
        raise KeyRuleError(f"{field}: must be <= {high}")
    return amount


LIMIT_FIELDS = ("rate_limit_5h", "rate_limit_1d", "rate_limit_7d", "concurrency", "rpm_limit")


def clean_count(value, field: str) -> int:
    """A whole number within the column's bounds (concurrency, rpm_limit; 0 = off)."""
    low, high = limits(ApiKey._meta.get_field(field))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeyRuleError(f"{field}: must be an integer")
    if value < low:
        raise KeyRuleError(f"{field}: must be >= {low}")
    if value > high:
        raise KeyRuleError(f"{field}: must be <= {high}")
    return value


def clean_limits(**values) -> dict:
    """The key limits given (absent ones left out), typed and in range, or KeyRuleError naming the field."""
    out = {}
    for field, value in values.items():
        if value is UNSET:
            continue
        out[field] = clean_count(value, field) if field in ("concurrency", "rpm_limit") else clean_quota(value, field)
    return out


def clean_expires_in_days(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise KeyRuleError("expires_in_days: must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise KeyRuleError("expires_in_days: must be an integer")
        value = int(value)
    if value <= 0:
        raise KeyRuleError("expires_in_days: must be > 0")
    if value > MAX_EXPIRES_IN_DAYS:
        raise KeyRuleError(f"expires_in_days: must be <= {MAX_EXPIRES_IN_DAYS}")
    return value


def parse_expires_at(value) -> datetime | None:
    """RFC 3339 (as the reference's Go parser accepts it) → aware datetime; "" → None (no expiry)."""
    if value == "":
        return None
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if not match:
        raise KeyRuleError(f"Invalid expires_at format: {value!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        if zulu:
            tz = UTC
        else:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone.get_fixed_timezone(offset if sign == "+" else -offset)
        micro = int((fraction or "0").ljust(6, "0")[:6])
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz)
    except (ValueError, OverflowError):
        raise KeyRuleError(f"Invalid expires_at format: {value!r} is not a valid date and time")


def clean_ip_list(value, field: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise KeyRuleError(f"{field}: must be a list of IP addresses or CIDR ranges")
    rules = []
    for item in value:
        if not isinstance(item, str):
            raise KeyRuleError(f"{field}: must be a list of IP addresses or CIDR ranges")
        item = item.strip()
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise KeyRuleError(f"{field}: {item!r} is not an IP address or CIDR range")
        rules.append(item)
    return rules


def clean_name(value) -> str:
    if not isinstance(value, str):
        raise KeyRuleError("name: must be a string")
    if "\x00" in value:
        raise KeyRuleError("name: must not contain NUL characters")
    value = value.strip()
    if len(value) > ApiKey._meta.get_field("name").max_length:
        raise KeyRuleError(f"name: at most {ApiKey._meta.get_field('name').max_length} characters")
    return value


# --- rules ---------------------------------------------------------------------------------------------


def check_group_access(user, group) -> None:
    """May this user bind a key to this group? (reference: api_key_service binding rules)"""
    if group is None:
        return
    if group.status != group.Status.ACTIVE:
        raise KeyRuleError(f"group {group.name!r} is not active", 400, "GROUP_NOT_ACTIVE")
    if group.is_subscription:
        subscription = user.subscriptions.filter(group=group).first()
        if subscription is None or not subscription.is_valid():
            raise KeyRuleError(
                f"group {group.name!r} needs an active subscription", 403, "GROUP_NOT_ALLOWED"
            )
    elif group.is_exclusive and not user.allowed_groups.filter(pk=group.pk).exists():
        raise KeyRuleError(f"group {group.name!r} is exclusive and not allowed for this user", 403, "GROUP_NOT_ALLOWED")


def bindable_groups(user):
    """The active groups `check_group_access` lets this user bind, in display order."""
    from django.db.models import Q

    from groups.models import Group
    from users.models import Subscription

    now = timezone.now()
    subscribed = user.subscriptions.filter(status=Subscription.Status.ACTIVE, expires_at__gt=now).values("group_id")
    standard = Q(subscription_type=Group.SubscriptionType.STANDARD) & (
        Q(is_exclusive=False) | Q(pk__in=user.allowed_groups.values("pk"))
    )
    subscription = Q(subscription_type=Group.SubscriptionType.SUBSCRIPTION, pk__in=subscribed)
    return Group.objects.active().filter(standard | subscription).order_by("sort_order", "id")


def _invalidate_after_commit(key_hash: str) -> None:
    transaction.on_commit(lambda: cache.invalidate_key(key_hash))


def create_key(
    user, *, name: str = "", group=None, quota: Decimal = Decimal(0), expires_in_days: int | None = None,
    ip_whitelist=(), ip_blacklist=(), enforce_group_access: bool = True, now: datetime | None = None,
    rate_limit_5h=UNSET, rate_limit_1d=UNSET, rate_limit_7d=UNSET, concurrency=UNSET, rpm_limit=UNSET,
) -> tuple[ApiKey, str]:
    """A new active key; returns it with its secret, which is shown this once and never again."""
    if enforce_group_access:
        check_group_access(user, group)
    expires_at = None
    if expires_in_days is not None:
        expires_at = (now or timezone.now()) + timedelta(days=clean_expires_in_days(expires_in_days))
    key, raw = ApiKey.objects.create_key(
        user=user, name=name, group=group, quota=clean_quota(quota), expires_at=expires_at,
        ip_whitelist=list(ip_whitelist), ip_blacklist=list(ip_blacklist),
        **clean_limits(rate_limit_5h=rate_limit_5h, rate_limit_1d=rate_limit_1d, rate_limit_7d=rate_limit_7d,
                       concurrency=concurrency, rpm_limit=rpm_limit),
    )
    _invalidate_after_commit(key.key_hash)
    return key, raw


def update_key(
    key: ApiKey, *, name=UNSET, group=UNSET, status=UNSET, quota=UNSET, reset_quota: bool = False,
    expires_at=UNSET, ip_whitelist=UNSET, ip_blacklist=UNSET, enforce_group_access: bool = True,
    now: datetime | None = None, rate_limit_5h=UNSET, rate_limit_1d=UNSET, rate_limit_7d=UNSET,
    concurrency=UNSET, rpm_limit=UNSET, reset_rate_limit_usage: bool = False,
) -> ApiKey:
    """Change a key field by field (PATCH semantics: UNSET = unchanged, [] clears an IP list).

    Status rules, in this order (an explicit status comes first):
    - `status` may only be set to active or inactive by a person;
    - a new `quota` reactivates a quota_exhausted key when it is unlimited (<= 0) or above what was used;
    - `reset_quota` zeroes quota_used and reactivates a quota_exhausted key;
    - `expires_at` None clears the expiry, a datetime sets it; either reactivates an `expired` key when the
      key no longer is expired. An inactive key is never reactivated automatically.
    The spend-window limits, `concurrency` and `rpm_limit` are set as given; `reset_rate_limit_usage`
    zeroes every window's usage (the next charge starts new windows).
    Only the changed columns are written, so a concurrent charge to quota_used is never overwritten.
    Returns the updated key (a fresh instance).
    """
    now = now or timezone.now()
    with transaction.atomic():
        fresh = ApiKey.objects.select_for_update(of=("self",)).select_related("user", "group").get(pk=key.pk)
        changed = set()

        def put(field, value):
            setattr(fresh, field, value)
            changed.add(field)

        if name is not UNSET:
            put("name", name)
        if group is not UNSET:
            if enforce_group_access and group is not None and group.pk != fresh.group_id:
                check_group_access(fresh.user, group)
            put("group", group)
        if ip_whitelist is not UNSET:
            put("ip_whitelist", list(ip_whitelist))
        if ip_blacklist is not UNSET:
            put("ip_blacklist", list(ip_blacklist))
        if status is not UNSET:
            if status not in USER_SETTABLE_STATUSES:
                raise KeyRuleError(f"status: must be one of {', '.join(USER_SETTABLE_STATUSES)}")
            put("status", status)
        if quota is not UNSET:
            put("quota", quota)
            if fresh.status == ApiKey.Status.QUOTA_EXHAUSTED and (quota <= 0 or quota > fresh.quota_used):
                put("status", ApiKey.Status.ACTIVE)
        if reset_quota:
            put("quota_used", Decimal(0))
            if fresh.status == ApiKey.Status.QUOTA_EXHAUSTED:
                put("status", ApiKey.Status.ACTIVE)
        if expires_at is not UNSET:
            put("expires_at", expires_at)
            if fresh.status == ApiKey.Status.EXPIRED and (expires_at is None or expires_at > now):
                put("status", ApiKey.Status.ACTIVE)
        for field, value in clean_limits(rate_limit_5h=rate_limit_5h, rate_limit_1d=rate_limit_1d,
                                         rate_limit_7d=rate_limit_7d, concurrency=concurrency,
                                         rpm_limit=rpm_limit).items():
            put(field, value)
        if reset_rate_limit_usage:
            for name in windows.NAMES:
                put(f"usage_{name}", Decimal(0))
                put(f"window_{name}_start", None)
            key_id = fresh.pk
            transaction.on_commit(lambda: windows.forget(key_id))
        if changed:
            fresh.save(update_fields=[*changed, "updated_at"])
        _invalidate_after_commit(fresh.key_hash)
    return fresh


def regenerate_key(key: ApiKey) -> tuple[ApiKey, str]:
    """A new secret for the same key (limits, usage and history stay); the old secret stops working at
    once. Returns the key with the new secret, shown this once."""
    with transaction.atomic():
        fresh = ApiKey.objects.select_for_update(of=("self",)).get(pk=key.pk)
        old_hash, raw = fresh.key_hash, generate_secret()
        fresh.key_hash, fresh.prefix = hash_key(raw), raw[:10]
        fresh.save(update_fields=["key_hash", "prefix", "updated_at"])
        _invalidate_after_commit(old_hash)
    return fresh, raw


def delete_key(key: ApiKey) -> None:
    key_hash = key.key_hash
    key.delete()
    _invalidate_after_commit(key_hash)
