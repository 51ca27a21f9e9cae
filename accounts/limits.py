"""Limits of Anthropic OAuth / setup-token accounts (spec §1.4, §2.7): the one home of their rules.

- Base RPM: requests per minute, counted in the shared store (every process counts in the same minute).
  Below `base_rpm` an account takes any request. Beyond it, `tiered` lets only sticky sessions (requests
  that continue a conversation bound to the account) through, up to `base_rpm + buffer`;
  `sticky_exempt` lets sticky sessions through without limit. New conversations go elsewhere.
- Sessions: at most `max_sessions` conversations active within `session_idle_timeout_minutes` (a set of
  session hashes in the shared store); a request of a known session always passes.
- Window cost: the account cost charged in the 5-hour window that starts with its first charge. Below
  `window_cost_limit` the account is schedulable; up to `limit + window_cost_sticky_reserve` it serves
  sticky sessions only; beyond that nothing until the window ends. The counter lives in the database
  (the charge updates it in its transaction) and the scheduler's snapshots are told when it changes zone.

The scheduler asks `window_cost_zone` while it filters candidates and `admit` once it holds an account's
slot; the admin reads `now` for the account list.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.money import nanos
from core.store import get_store

WINDOW = timedelta(hours=5)

SCHEDULABLE = "schedulable"
STICKY_ONLY = "sticky_only"
NOT_SCHEDULABLE = "not_schedulable"
ZONE_ORDER = (SCHEDULABLE, STICKY_ONLY, NOT_SCHEDULABLE)


def applies(account) -> bool:
    """These limits are the reference's for Claude subscription accounts only."""
    return account.platform == "anthropic" and account.is_oauth


def rpm_key(account_id: int) -> str:
    return f"rpm:account:{account_id}"


def sessions_key(account_id: int) -> str:
    return f"session_limit:account:{account_id}"


# --- RPM ------------------------------------------------------------------------------------------------
def sticky_buffer(account) -> int:
    if account.rpm_sticky_buffer is not None:
        return account.rpm_sticky_buffer
    return max(1, account.base_rpm // 5)


def rpm_ceiling(account, sticky: bool) -> int:
    """How many requests this minute may already count for one more to pass; 0 = no limit."""
    if not sticky:
        return account.base_rpm
    if account.rpm_strategy == account.RpmStrategy.STICKY_EXEMPT:
        return 0
    return account.base_rpm + sticky_buffer(account)


def rpm_zone(account, count: int) -> str:
    if account.base_rpm <= 0 or count < account.base_rpm:
        return SCHEDULABLE
    if account.rpm_strategy == account.RpmStrategy.STICKY_EXEMPT or count < rpm_ceiling(account, True):
        return STICKY_ONLY
    return NOT_SCHEDULABLE


# --- window cost --------------------------------------------------------------------------------------
def has_window_cost(account) -> bool:
    return applies(account) and account.window_cost_limit > 0


def window_live_from(now):
    return now - WINDOW


def window_cost_now(account, now=None) -> Decimal:
    """The window's cost so far; an ended window counts as 0."""
    now = now or timezone.now()
    if account.window_cost_start is None or account.window_cost_start <= window_live_from(now):
        return Decimal(0)
    return account.window_cost_used


def window_resets_at(account, now=None):
    now = now or timezone.now()
    if account.window_cost_start is None or account.window_cost_start <= window_live_from(now):
        return None
    return account.window_cost_start + WINDOW


def window_cost_zone(account, now=None) -> str:
    if not has_window_cost(account):
        return SCHEDULABLE
    used = window_cost_now(account, now)
    if used < account.window_cost_limit:
        return SCHEDULABLE
    if used < account.window_cost_limit + account.window_cost_sticky_reserve:
        return STICKY_ONLY
    return NOT_SCHEDULABLE


def window_allows(account, sticky: bool, now=None) -> bool:
    zone = window_cost_zone(account, now)
    return zone == SCHEDULABLE or (zone == STICKY_ONLY and sticky)


def window_increment_updates(amount, now) -> dict:
    """Column updates the database evaluates on the row's current values: an ended window restarts here."""
    delta = nanos(amount)
    ended = Q(window_cost_start__isnull=True) | Q(window_cost_start__lte=window_live_from(now))
    return {
        "window_cost_used": Case(When(ended, then=Value(delta)), default=F("window_cost_used") + delta),
        "window_cost_start": Case(When(ended, then=Value(now)), default=F("window_cost_start")),
    }


# --- admission (the scheduler, holding the account's slot) ------------------------------------------------
async def admit(account, session: str | None, sticky: bool) -> str | None:
    """Count the request against the account's sessions and RPM; the reason it may not go, or None."""
    if not applies(account) or (account.base_rpm <= 0 and account.max_sessions <= 0):
        return None
    store = get_store()
    added = False
    if account.max_sessions > 0 and session:
        seen = await store.touch_member(
            sessions_key(account.pk), session, account.max_sessions, account.session_idle_timeout_minutes * 60
        )
        if seen is None:
            return "session limit reached"
        added = seen == "new"
    if account.base_rpm > 0 and not await store.hit_minute(rpm_key(account.pk), rpm_ceiling(account, sticky)):
        if added:  # the session was not served here: it must not hold a place
            await store.drop_member(sessions_key(account.pk), session)
        return "RPM limit reached"
    return None


# --- what the admin shows --------------------------------------------------------------------------------
def now(accounts) -> dict[int, dict]:
    """{account id: {"rpm", "rpm_zone", "sessions", "window_cost", "window_zone", "window_resets"}} for
    the accounts these limits apply to, in a couple of store round trips."""
    accounts = [a for a in accounts if applies(a)]
    if not accounts:
        return {}
    store = get_store()
    rpm = store.minute_counts([rpm_key(a.pk) for a in accounts])
    by_idle: dict[int, list] = {}
    for account in accounts:
        by_idle.setdefault(account.session_idle_timeout_minutes * 60, []).append(account)
    sessions = {}
    for idle, group in by_idle.items():
        for account, count in zip(group, store.live_members([sessions_key(a.pk) for a in group], idle), strict=True):
            sessions[account.pk] = count
    moment = timezone.now()
    return {
        a.pk: {
            "rpm": count, "rpm_zone": rpm_zone(a, count), "sessions": sessions[a.pk],
            "window_cost": window_cost_now(a, moment), "window_zone": window_cost_zone(a, moment),
            "window_resets": window_resets_at(a, moment),
        }
        for a, count in zip(accounts, rpm, strict=True)
    }
