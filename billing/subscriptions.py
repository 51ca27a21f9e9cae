"""Subscription usage windows (spec §1.7): the one home of that rule.

Each window (daily 24 h, weekly 7 d, monthly 30 d) starts at the start of the day of its first use and
ends `length` later; a window that has ended counts as unused, and the next charge restarts it at the
start of the current day with that charge's amount.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Case, F, Q, Value, When

from core.money import nanos

WINDOWS = (("daily", timedelta(days=1)), ("weekly", timedelta(days=7)), ("monthly", timedelta(days=30)))


def start_of_day(now):
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def window_ended(start, length, now) -> bool:
    return start is None or start + length <= now


def window_usage(subscription, name: str, length, now) -> Decimal:
    if window_ended(getattr(subscription, f"{name}_window_start"), length, now):
        return Decimal(0)
    return getattr(subscription, f"{name}_usage")


def exceeded_window(subscription, group, now) -> str | None:
    """The first window at or over the group's limit ("daily", ...), or None. Limits <= 0 are off."""
    for name, length in WINDOWS:
        limit = getattr(group, f"{name}_limit_usd")
        if limit and limit > 0 and window_usage(subscription, name, length, now) >= limit:
            return name
    return None


def increment_updates(amount, now) -> dict:
    """Column updates adding one charge to every window, evaluated on the row's current values."""
    delta = nanos(amount)
    updates = {}
    for name, length in WINDOWS:
        usage, start = f"{name}_usage", f"{name}_window_start"
        ended = Q(**{f"{start}__isnull": True}) | Q(**{f"{start}__lte": now - length})
        updates[usage] = Case(When(ended, then=Value(delta)), default=F(usage) + delta)
        updates[start] = Case(When(ended, then=Value(start_of_day(now))), default=F(start))
    return updates
