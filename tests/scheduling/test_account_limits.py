"""Limits of Anthropic OAuth / setup-token accounts as scheduler filters (accounts/limits.py): base RPM with
the tiered and sticky-exempt strategies, live sessions, the 5-hour window cost; and Claude-Code-only
groups with their fallback chain. Runs on the memory store (embedded) or Redis (production)."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts import limits
from accounts.models import Account
from core.store import get_store
from gateway.scheduler import NoAccountAvailable, SelectionRequest, select_account, snapshot
from tests.scheduling.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)


def request(group, session=None, claude_code=False):
    return SelectionRequest(
        group_id=group.pk, platform="anthropic", model="claude-sonnet-4-5", user_id=1, api_key_id=1,
        session_hash=session, claude_code=lambda: claude_code,
    )


async def pick(group, session=None, **kwargs):
    lease = await select_account(request(group, session, **kwargs))
    await lease.release()
    return lease.account.pk


async def limited_pair(make_group, make_account, **limit_fields):
    """A setup-token account with limits (preferred) and an unlimited one behind it."""
    group = await make_group()
    limited = await make_account(group, type="setup-token", access_token="sk-ant-oat01-a", priority=10,
                                 **limit_fields)
    spare = await make_account(group, type="setup-token", access_token="sk-ant-oat01-b", priority=50)
    return group, limited, spare


# --- base RPM --------------------------------------------------------------------------------------------
async def test_tiered_rpm_sends_new_sessions_elsewhere_and_lets_sticky_ones_use_the_buffer(make_group, make_account):
    group, limited, spare = await limited_pair(make_group, make_account, base_rpm=2, rpm_sticky_buffer=1)
    assert await pick(group, "s1") == limited.pk
    assert await pick(group, "s2") == limited.pk
    assert await pick(group, "s3") == spare.pk  # 2 this minute: new sessions no longer
    assert await pick(group, "s1") == limited.pk  # sticky: the buffer's one request
    assert await pick(group, "s2") == spare.pk  # base + buffer reached: not even sticky ones
    assert get_store().minute_counts([limits.rpm_key(limited.pk)]) == [3]


async def test_the_default_buffer_is_a_fifth_of_the_base_and_at_least_one(make_group, make_account):
    account = await make_account(type="setup-token", base_rpm=3)
    assert limits.sticky_buffer(account) == 1
    account.base_rpm = 50
    assert limits.sticky_buffer(account) == 10
    account.rpm_sticky_buffer = 0
    assert limits.sticky_buffer(account) == 0
    assert [limits.rpm_zone(account, n) for n in (49, 50)] == [limits.SCHEDULABLE, limits.NOT_SCHEDULABLE]


async def test_sticky_exempt_never_limits_sticky_sessions(make_group, make_account):
    group, limited, spare = await limited_pair(
        make_group, make_account, base_rpm=1, rpm_strategy=Account.RpmStrategy.STICKY_EXEMPT)
    assert await pick(group, "s1") == limited.pk
    assert await pick(group, "s2") == spare.pk
    for _ in range(5):
        assert await pick(group, "s1") == limited.pk
    assert limits.rpm_zone(limited, 6) == limits.STICKY_ONLY


async def test_rpm_is_only_for_oauth_and_setup_token_accounts(make_group, make_account):
    group = await make_group()
    apikey = await make_account(group, base_rpm=1, max_sessions=1)
    for session in ("a", "b", "c"):
        assert await pick(group, session) == apikey.pk


async def test_an_account_at_its_limits_alone_means_no_available_account(make_group, make_account):
    group = await make_group()
    await make_account(group, type="setup-token", access_token="sk-ant-oat01-a", base_rpm=1)
    await pick(group, "s1")
    with pytest.raises(NoAccountAvailable, match="account limits reached"):
        await pick(group, "s2")


async def test_concurrent_requests_never_overshoot_the_rpm(make_group, make_account):
    group, limited, spare = await limited_pair(make_group, make_account, base_rpm=5, concurrency=0)
    picks = await asyncio.gather(*(pick(group, f"s{i}") for i in range(20)))
    assert picks.count(limited.pk) == 5
    assert picks.count(spare.pk) == 15


# --- sessions --------------------------------------------------------------------------------------------
async def test_max_sessions_refuses_new_sessions_but_not_known_ones(make_group, make_account):
    group, limited, spare = await limited_pair(make_group, make_account, max_sessions=2)
    assert await pick(group, "s1") == limited.pk
    assert await pick(group, "s2") == limited.pk
    assert await pick(group, "s3") == spare.pk
    assert await pick(group, "s1") == limited.pk
    assert await pick(group, "s2") == limited.pk
    assert get_store().live_members([limits.sessions_key(limited.pk)], 300) == [2]


async def test_a_session_refused_by_the_rpm_does_not_keep_a_place(make_group, make_account):
    group, limited, spare = await limited_pair(make_group, make_account, max_sessions=2, base_rpm=1,
                                               rpm_sticky_buffer=0)
    assert await pick(group, "s1") == limited.pk
    assert await pick(group, "s2") == spare.pk  # RPM refused it after the session was noted
    assert get_store().live_members([limits.sessions_key(limited.pk)], 300) == [1]


async def test_idle_sessions_stop_counting():
    store = get_store()
    assert await store.touch_member("session_limit:test", "a", 1, 1) == "new"
    assert await store.touch_member("session_limit:test", "a", 1, 1) == "known"
    assert await store.touch_member("session_limit:test", "b", 1, 1) is None
    await asyncio.sleep(2.2)  # both stores count whole seconds for Redis' clock: past one idle second
    assert store.live_members(["session_limit:test"], 1) == [0]
    assert await store.touch_member("session_limit:test", "b", 1, 1) == "new"


# --- window cost -------------------------------------------------------------------------------------------
async def charge_window(account, amount):
    fresh = await orm(Account.objects.get, pk=account.pk)
    await orm(fresh.charge_window_cost, Decimal(amount))
    return await orm(Account.objects.get, pk=account.pk)


async def test_window_cost_zones_schedulable_sticky_only_not_schedulable(make_group, make_account):
    group, limited, spare = await limited_pair(
        make_group, make_account, window_cost_limit=Decimal(1), window_cost_sticky_reserve=Decimal("0.5"))
    assert await pick(group, "s1") == limited.pk
    stored = await charge_window(limited, "0.6")
    assert limits.window_cost_zone(stored) == limits.SCHEDULABLE
    assert await pick(group, "s2") == limited.pk
    stored = await charge_window(limited, "0.5")
    assert limits.window_cost_now(stored) == Decimal("1.1")
    assert limits.window_cost_zone(stored) == limits.STICKY_ONLY
    assert await pick(group, "new") == spare.pk  # the charge told the scheduler: a new session goes elsewhere
    assert await pick(group, "s1") == limited.pk  # a sticky one may use the reserve
    stored = await charge_window(limited, "0.4")
    assert limits.window_cost_zone(stored) == limits.NOT_SCHEDULABLE
    assert stored.unschedulable_reason() == "window cost limit reached"
    assert await pick(group, "s2") == spare.pk


async def test_the_window_is_five_hours_from_its_first_charge(make_group, make_account):
    account = await make_account(type="setup-token", window_cost_limit=Decimal(1))
    stored = await charge_window(account, "2")
    start = stored.window_cost_start
    assert limits.window_resets_at(stored) == start + timedelta(hours=5)
    stored = await charge_window(account, "1")
    assert (stored.window_cost_used, stored.window_cost_start) == (Decimal(3), start)
    # Five hours later the window is over: it counts as 0, and the next charge starts a new one.
    await orm(Account.objects.filter(pk=account.pk).update, window_cost_start=start - timedelta(hours=5))
    ended = await orm(Account.objects.get, pk=account.pk)
    assert limits.window_cost_now(ended) == 0
    assert limits.window_cost_zone(ended) == limits.SCHEDULABLE
    stored = await charge_window(account, "0.25")
    assert stored.window_cost_used == Decimal("0.25")
    assert stored.window_cost_start > start


async def test_window_cost_is_not_counted_without_a_limit_or_on_apikey_accounts(make_account):
    oauth = await make_account(type="setup-token")
    apikey = await make_account(window_cost_limit=Decimal(1))
    assert (await charge_window(oauth, "1")).window_cost_used == 0
    assert (await charge_window(apikey, "1")).window_cost_used == 0


# --- Claude-Code-only groups ---------------------------------------------------------------------------------
async def test_claude_code_only_group_sends_other_clients_down_the_fallback_chain(make_group, make_account):
    last = await make_group()
    middle = await make_group(claude_code_only=True, fallback_group=last)
    first = await make_group(claude_code_only=True, fallback_group=middle)
    own = await make_account(first)
    await make_account(middle)
    fallback = await make_account(last)
    assert await pick(first, "s", claude_code=True) == own.pk
    assert await pick(first, "s") == fallback.pk


async def test_claude_code_only_group_without_fallback_refuses(make_group, make_account):
    group = await make_group(claude_code_only=True)
    await make_account(group)
    with pytest.raises(NoAccountAvailable, match="this group only allows Claude Code clients"):
        await pick(group)


async def test_a_fallback_cycle_made_behind_the_rules_back_refuses(make_group, make_account):
    a = await make_group(claude_code_only=True)
    b = await make_group(claude_code_only=True, fallback_group=a)
    await orm(type(a).objects.filter(pk=a.pk).update, fallback_group=b)
    snapshot._snapshots.clear()
    with pytest.raises(NoAccountAvailable, match="only allows Claude Code"):
        await pick(a)


async def test_plain_groups_serve_any_client(make_group, make_account):
    group = await make_group()
    account = await make_account(group)
    assert await pick(group) == account.pk
    assert await pick(group, claude_code=True) == account.pk
