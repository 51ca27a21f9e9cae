"""Account spend quotas (spec S4, S1): the one home of the quota-period rule.

An account of type apikey or bedrock may carry a total, a daily and a weekly limit in USD. Daily and
weekly periods reset lazily: the stored counter is only zeroed by the next charge after the period
ended. A period is either rolling (24 h / 168 h from the first charge after the previous period) or
fixed (at an hour, and for weekly a weekday, in an IANA time zone).

Everything that asks "has this period ended?" (the charge's UPDATE, the scheduler, every display)
goes through `live_from`: a period whose start is missing or earlier than `live_from` has ended.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.money import nanos

QUOTA_TYPES = frozenset({"apikey", "bedrock"})
ROLLING, FIXED = "rolling", "fixed"
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Period:
    name: str  # "daily" | "weekly"
    length: timedelta

    def field(self, suffix: str) -> str:
        return f"quota_{self.name}_{suffix}"


DAILY = Period("daily", timedelta(hours=24))
WEEKLY = Period("weekly", timedelta(hours=168))
PERIODS = (DAILY, WEEKLY)
# The columns a charge changes.
COUNTER_FIELDS = ("quota_used", "quota_daily_used", "quota_daily_start", "quota_weekly_used", "quota_weekly_start")


def zone(name: str) -> ZoneInfo:
    """The account's reset time zone; an unknown name falls back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _mode(account, period: Period) -> str:
    return getattr(account, period.field("reset_mode")) or ROLLING


def last_fixed_boundary(account, period: Period, now: datetime) -> datetime:
    """The most recent fixed reset instant at or before `now`."""
    tz = zone(account.quota_reset_timezone)
    local = now.astimezone(tz)
    if period is DAILY:
        hour, days_back, step = account.quota_daily_reset_hour, 0, 1
    else:
        hour, step = account.quota_weekly_reset_hour, 7
        sunday_based = (local.weekday() + 1) % 7  # 0 = Sunday, as the spec numbers weekdays
        days_back = (sunday_based - account.quota_weekly_reset_day) % 7
    boundary = datetime.combine(local.date() - timedelta(days=days_back), time(hour), tzinfo=tz)
    if boundary > local:
        boundary = datetime.combine(boundary.date() - timedelta(days=step), time(hour), tzinfo=tz)
    return boundary.astimezone(UTC)


def next_fixed_boundary(account, period: Period, now: datetime) -> datetime:
    """The first fixed reset instant strictly after `now`."""
    tz = zone(account.quota_reset_timezone)
    last = last_fixed_boundary(account, period, now).astimezone(tz)
    step = 1 if period is DAILY else 7
    return datetime.combine(last.date() + timedelta(days=step), last.timetz()).astimezone(UTC)


def live_from(account, period: Period, now: datetime) -> datetime:
    """The earliest period start that is still current at `now`.

    Rolling: a period that started exactly 24 h (168 h) ago has ended, hence the microsecond.
    """
    if _mode(account, period) == FIXED:
        return last_fixed_boundary(account, period, now)
    return now - period.length + ONE_MICROSECOND


def period_expired(account, period: Period, now: datetime | None = None) -> bool:
    start = getattr(account, period.field("start"))
    return start is None or start < live_from(account, period, now or timezone.now())


def used_now(account, period: Period, now: datetime | None = None):
    """What the period has used as of now: the stored value, or 0 once the period has ended (S1)."""
    from decimal import Decimal

    if period_expired(account, period, now):
        return Decimal(0)
    return getattr(account, period.field("used"))


def resets_at(account, period: Period, now: datetime | None = None) -> datetime | None:
    """When the current period ends; None for a rolling period that has not started."""
    now = now or timezone.now()
    if _mode(account, period) == FIXED:
        return next_fixed_boundary(account, period, now)
    if period_expired(account, period, now):
        return None
    return getattr(account, period.field("start")) + period.length


def applies(account) -> bool:
    return account.type in QUOTA_TYPES


def has_limits(account) -> bool:
    return applies(account) and any(
        limit and limit > 0 for limit in (account.quota_limit, account.quota_daily_limit, account.quota_weekly_limit)
    )


def exceeded(account, now: datetime | None = None) -> bool:
    """Any dimension at or over its limit in a current period. OAuth accounts never are."""
    if not applies(account):
        return False
    now = now or timezone.now()
    if account.quota_limit > 0 and account.quota_used >= account.quota_limit:
        return True
    for period in PERIODS:
        limit = getattr(account, period.field("limit"))
        if limit > 0 and not period_expired(account, period, now) and getattr(account, period.field("used")) >= limit:
            return True
    return False


def usage_fraction(used, limit) -> float | None:
    """used/limit for bars and badges (display only), None without a limit."""
    return float(used / limit) if limit and limit > 0 else None


def increment_updates(account, amount, now: datetime) -> dict:
    """Column updates for one charge, evaluated by the database on the row's current values.

    The total always accumulates; a daily/weekly counter only when that dimension has a limit. An
    ended period restarts at this charge (rolling: start = now; fixed: start = the last boundary).
    """
    delta = nanos(amount)
    updates = {"quota_used": F("quota_used") + delta}
    for period in PERIODS:
        if not getattr(account, period.field("limit")) > 0:
            continue
        used, start = period.field("used"), period.field("start")
        ended = Q(**{f"{start}__isnull": True}) | Q(**{f"{start}__lt": live_from(account, period, now)})
        new_start = last_fixed_boundary(account, period, now) if _mode(account, period) == FIXED else now
        updates[used] = Case(When(ended, then=Value(delta)), default=F(used) + delta)
        updates[start] = Case(When(ended, then=Value(new_start)), default=F(start))
    return updates


def reset_updates() -> dict:
    """Zero every counter and forget both period starts; limits stay."""
    return {
        "quota_used": 0,
        "quota_daily_used": 0,
        "quota_daily_start": None,
        "quota_weekly_used": 0,
        "quota_weekly_start": None,
    }


def validate_config(account) -> dict[str, str]:
    """Field errors of the quota settings (an empty dict when valid)."""
    errors = {}
    for name in ("quota_limit", "quota_daily_limit", "quota_weekly_limit"):
        value = getattr(account, name)
        if value is None or value < 0:
            errors[name] = f"{name} must be 0 (unlimited) or a positive amount"
    for period in PERIODS:
        if _mode(account, period) not in (ROLLING, FIXED):
            errors[period.field("reset_mode")] = f"{period.field('reset_mode')} must be rolling or fixed"
        hour = getattr(account, period.field("reset_hour"))
        if hour is None or not 0 <= hour <= 23:
            errors[period.field("reset_hour")] = f"{period.field('reset_hour')} must be between 0 and 23"
    if account.quota_weekly_reset_day is None or not 0 <= account.quota_weekly_reset_day <= 6:
        errors["quota_weekly_reset_day"] = "quota_weekly_reset_day must be between 0 (Sunday) and 6 (Saturday)"
    try:
        ZoneInfo(account.quota_reset_timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        errors["quota_reset_timezone"] = f"quota_reset_timezone: unknown time zone {account.quota_reset_timezone!r}"
    return errors


def normalized_fixed_windows(account, now: datetime) -> dict:
    """After a config change: a fixed period whose stored window predates its last boundary starts
    over at that boundary with nothing used, so the display and the charge agree (S1 follow-up)."""
    updates = {}
    for period in PERIODS:
        if _mode(account, period) != FIXED or not getattr(account, period.field("limit")) > 0:
            continue
        boundary = last_fixed_boundary(account, period, now)
        start = getattr(account, period.field("start"))
        if start is None or start < boundary:
            updates[period.field("used")] = 0
            updates[period.field("start")] = boundary
    return updates
