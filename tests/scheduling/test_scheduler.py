"""Account choice: order rules, model routing, sticky sessions, account slots and waiting, quota, and the
cached snapshot's invalidation. Runs against the in-process limiter (embedded) or Redis (production)."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from core.store import get_store
from gateway import scheduler, slots
from gateway.scheduler import NoAccountAvailable, SelectionRequest, lastused, select_account, snapshot
from gateway.slots import ConcurrencyLimitExceeded
from tests.scheduling.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)


def request(group, model="claude-sonnet-4-5", session=None, platform="anthropic"):
    return SelectionRequest(
        group_id=group.pk if group else None, platform=platform, model=model, user_id=1, api_key_id=1,
        session_hash=session,
    )


async def pick(group, **kwargs):
    lease = await select_account(request(group, **kwargs))
    await lease.release()
    return lease.account.pk


async def test_lowest_priority_number_wins(make_group, make_account):
    group = await make_group()
    await make_account(group, priority=50)
    preferred = await make_account(group, priority=10)
    await make_account(group, priority=30)
    for _ in range(3):
        assert await pick(group) == preferred.pk


async def test_lower_load_wins_within_a_priority(make_group, make_account):
    group = await make_group()
    busy = await make_account(group, concurrency=2)
    idle = await make_account(group, concurrency=2)
    await get_store().acquire(slots.account_key(busy.pk), 2, "someone-else")
    assert await pick(group) == idle.pk


async def test_load_counts_relative_to_the_load_factor(make_group, make_account):
    group = await make_group()
    big = await make_account(group, concurrency=10, load_factor=10)
    small = await make_account(group, concurrency=2)
    limiter = get_store()
    await limiter.acquire(slots.account_key(big.pk), 10, "a")
    await limiter.acquire(slots.account_key(small.pk), 2, "b")
    assert await pick(group) == big.pk  # 10 % busy beats 50 % busy


async def test_least_recently_used_spreads_requests(make_group, make_account):
    group = await make_group()
    accounts = [await make_account(group) for _ in range(3)]
    chosen = [await pick(group) for _ in range(3)]
    assert sorted(chosen) == sorted(a.pk for a in accounts)


async def test_never_used_accounts_come_before_used_ones(make_group, make_account):
    group = await make_group()
    await make_account(group, last_used_at=timezone.now() - timedelta(days=1))
    fresh = await make_account(group)
    assert await pick(group) == fresh.pk


async def test_drag_order_breaks_ties_and_a_reorder_is_seen(make_group, make_account):
    from groups.models import GroupAccount

    group = await make_group()
    first = await make_account(group)
    second = await make_account(group)
    lease = await select_account(request(group))
    assert lease.account.pk == first.pk
    await lease.release()
    lastused.forget()
    await orm(lambda: Account.objects.update(last_used_at=None))
    await orm(lambda: GroupAccount.objects.filter(group=group, account=second).update(sort_value=-1))
    await orm(lambda: GroupAccount.objects.get(group=group, account=first).save())  # an admin save
    lease = await select_account(request(group))
    assert lease.account.pk == second.pk
    await lease.release()


async def test_model_support_and_exclusions(make_group, make_account):
    group = await make_group()
    opus_only = await make_account(group, model_mapping={"claude-opus-*": ""})
    any_model = await make_account(group, priority=90)
    assert await pick(group, model="claude-sonnet-4-5") == any_model.pk
    assert await pick(group, model="claude-opus-4-5") == opus_only.pk
    lease = await select_account(request(group, model="claude-opus-4-5"), exclude=frozenset({opus_only.pk}))
    assert lease.account.pk == any_model.pk
    await lease.release()
    with pytest.raises(NoAccountAvailable):
        await select_account(request(group), exclude=frozenset({any_model.pk, opus_only.pk}))


async def test_only_the_group_and_platform_are_candidates(make_group, make_account):
    group, other = await make_group(), await make_group()
    await make_account(other)
    await make_account(group, platform="openai")
    await make_account(None)  # ungrouped
    with pytest.raises(NoAccountAvailable):
        await select_account(request(group))


async def test_keys_without_group_use_ungrouped_accounts(make_group, make_account):
    await make_account(await make_group())
    ungrouped = await make_account(None)
    assert await pick(None) == ungrouped.pk


async def test_model_routing_exact_then_prefix(make_group, make_account):
    group = await make_group()
    a, b, c = await make_account(group), await make_account(group), await make_account(group, priority=1)
    group.model_routing_enabled = True
    group.model_routing = {"claude-opus-4-5": [a.pk], "claude-opus-*": [b.pk], "claude-haiku-*": [999999]}
    await orm(group.save)
    assert await pick(group, model="claude-opus-4-5") == a.pk
    assert await pick(group, model="claude-opus-4-1") == b.pk
    assert await pick(group, model="claude-sonnet-4-5") == c.pk  # no rule: whole group
    assert await pick(group, model="claude-haiku-4-5") == c.pk  # routed accounts unusable: fall through
    group.model_routing_enabled = False
    await orm(group.save)
    assert await pick(group, model="claude-opus-4-5") == c.pk


async def test_sticky_session_keeps_its_account(make_group, make_account):
    group = await make_group()
    await make_account(group)
    await make_account(group)
    first = await pick(group, session="conversation-1")
    for _ in range(4):  # LRU alone would alternate
        assert await pick(group, session="conversation-1") == first
    assert await scheduler.bound_account(group.pk, "conversation-1") == first


async def test_what_a_request_continues_comes_before_its_session(make_group, make_account):
    from gateway.scheduler import sticky

    group = await make_group()
    producer, other = await make_account(group), await make_account(group)
    await sticky.bind(group.pk, "openai:response:r1", producer.pk)
    await sticky.bind(group.pk, "session-x", other.pk)

    async def pick_continuing(continues, session=None):
        req = SelectionRequest(group_id=group.pk, platform="anthropic", model="claude-sonnet-4-5", user_id=1,
                               api_key_id=1, session_hash=session, continues=continues)
        lease = await select_account(req)
        await lease.release()
        return lease

    for _ in range(3):
        lease = await pick_continuing("openai:response:r1", session="session-x")
        assert lease.account.pk == producer.pk and lease.sticky
    assert await scheduler.bound_account(group.pk, "session-x") == other.pk  # the session keeps its binding
    assert (await pick_continuing("openai:response:unknown", session="session-x")).account.pk == other.pk
    await orm(lambda: Account.objects.get(pk=producer.pk).mark_error("gone"))
    # The producer is gone: the request is served elsewhere and its session binding stays.
    assert (await pick_continuing("openai:response:r1")).account.pk == other.pk


async def test_sticky_binding_is_replaced_when_its_account_becomes_unusable(make_group, make_account):
    group = await make_group()
    await make_account(group)
    await make_account(group)
    bound = await pick(group, session="s")
    await orm(lambda: Account.objects.get(pk=bound).mark_rate_limited(timezone.now() + timedelta(hours=1)))
    replacement = await pick(group, session="s")
    assert replacement != bound
    assert await scheduler.bound_account(group.pk, "s") == replacement
    assert await pick(group, session="s") == replacement


async def test_sticky_does_not_wait_forever_on_a_busy_account(make_group, make_account, settings):
    settings.STICKY_SESSION_WAIT_TIMEOUT = 0.3
    group = await make_group()
    await make_account(group, concurrency=1)
    await make_account(group, concurrency=1)
    held = await select_account(request(group, session="s"))
    other = await select_account(request(group, session="s"))  # waits briefly, then takes the other one
    assert other.account.pk != held.account.pk
    await held.release()
    await other.release()


async def test_all_busy_waits_then_raises_concurrency_error(make_group, make_account, settings):
    settings.FALLBACK_WAIT_TIMEOUT = 0.3
    group = await make_group()
    await make_account(group, concurrency=1)
    held = await select_account(request(group))
    with pytest.raises(ConcurrencyLimitExceeded) as error:
        await select_account(request(group))
    assert error.value.scope == "account" and error.value.status == 429
    assert await get_store().waiting(slots.account_key(held.account.pk)) == 0
    await held.release()
    assert await get_store().count(slots.account_key(held.account.pk)) == 0


async def test_a_waiting_request_gets_the_slot_when_released(make_group, make_account, settings):
    settings.FALLBACK_WAIT_TIMEOUT = 10
    group = await make_group()
    account = await make_account(group, concurrency=1)
    held = await select_account(request(group))
    waiter = asyncio.create_task(select_account(request(group)))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await held.release()
    lease = await waiter
    assert lease.account.pk == account.pk
    await lease.release()


async def test_wait_queue_is_bounded(make_group, make_account, settings):
    settings.FALLBACK_MAX_WAITING = 0
    group = await make_group()
    await make_account(group, concurrency=1)
    held = await select_account(request(group))
    with pytest.raises(ConcurrencyLimitExceeded) as error:
        await select_account(request(group))
    assert error.value.reason == "queue_full"
    await held.release()


async def test_unlimited_accounts_take_any_number(make_group, make_account):
    group = await make_group()
    await make_account(group, concurrency=0)
    leases = [await select_account(request(group)) for _ in range(20)]
    for lease in leases:
        await lease.release()


async def test_release_is_idempotent_and_records_last_use(make_group, make_account):
    group = await make_group()
    account = await make_account(group)
    lease = await select_account(request(group))
    await lease.release()
    await lease.release()
    assert await get_store().count(slots.account_key(account.pk)) == 0
    await orm(scheduler.flush_last_used)
    await orm(account.refresh_from_db)
    assert account.last_used_at is not None


async def test_states_skip_accounts_until_their_time_passes(make_group, make_account):
    group = await make_group()
    limited = await make_account(group, priority=1)
    spare = await make_account(group, priority=2)
    await orm(limited.mark_rate_limited, timezone.now() + timedelta(seconds=1))
    assert await pick(group) == spare.pk
    await asyncio.sleep(1.2)
    assert await pick(group) == limited.pk  # back by itself, nobody cleared anything
    await orm(limited.mark_overloaded, 10)
    assert await pick(group) == spare.pk
    await orm(limited.clear_rate_limit)
    assert await pick(group) == limited.pk


@pytest.mark.parametrize("account_type", ["apikey", "bedrock"])
async def test_quota_exceeded_accounts_are_skipped_until_reset(make_group, make_account, account_type):
    group = await make_group()
    capped = await make_account(group, priority=1, type=account_type, quota_limit=Decimal(5))
    spare = await make_account(group, priority=2)
    assert await pick(group) == capped.pk
    crossed = await orm(capped.charge_quota, Decimal(5))
    assert crossed
    assert await pick(group) == spare.pk  # charge_quota dropped the cached snapshot
    await orm(capped.reset_quota)
    assert await pick(group) == capped.pk


async def test_daily_quota_exceeded_is_skipped_and_an_ended_period_is_not(make_group, make_account):
    group = await make_group()
    capped = await make_account(group, priority=1, quota_daily_limit=Decimal(1))
    spare = await make_account(group, priority=2)
    await orm(capped.charge_quota, Decimal(2))
    assert await pick(group) == spare.pk
    # The daily period started 25 h ago: ended, whatever the stored value says (S1/S4).
    started = timezone.now() - timedelta(hours=25)
    await orm(lambda: Account.objects.filter(pk=capped.pk).update(quota_daily_start=started))
    scheduler.invalidate()
    assert await pick(group) == capped.pk


async def test_oauth_accounts_ignore_quota_columns(make_group, make_account):
    group = await make_group()
    oauth = await make_account(group, priority=1, type="oauth", quota_limit=Decimal(1), quota_used=Decimal(5))
    assert await pick(group) == oauth.pk


async def test_admin_edits_and_membership_changes_reach_the_scheduler(make_group, make_account):
    group = await make_group()
    first = await make_account(group, priority=1)
    second = await make_account(group, priority=2)
    assert await pick(group) == first.pk
    first.schedulable = False
    await orm(first.save)
    assert await pick(group) == second.pk
    first.schedulable = True
    await orm(first.save)
    assert await pick(group) == first.pk
    await orm(group.accounts.remove, first)
    assert await pick(group) == second.pk
    second.priority = 100
    await orm(second.save)
    third = await make_account(group, priority=5)
    assert await pick(group) == third.pk
    await orm(third.delete)
    assert await pick(group) == second.pk


async def test_snapshot_is_reused_between_changes(make_group, make_account):
    group = await make_group()
    account = await make_account(group)
    await pick(group)
    # A raw update without invalidate() is not seen: the cached candidate list answers.
    await orm(lambda: Account.objects.filter(pk=account.pk).update(status=Account.Status.DISABLED))
    assert await pick(group) == account.pk
    scheduler.invalidate()
    with pytest.raises(NoAccountAvailable):
        await select_account(request(group))


async def test_snapshot_keeps_the_quota_columns(make_group, make_account):
    group = await make_group()
    await make_account(group, quota_limit=Decimal(3), quota_used=Decimal(1), quota_daily_limit=Decimal(2))
    await pick(group)
    cached = snapshot._snapshots[(group.pk, "anthropic")].accounts[0]
    assert cached.quota_limit == Decimal(3) and cached.quota_used == Decimal(1)
    assert cached.quota_daily_limit == Decimal(2)


async def test_an_invalidation_from_another_process_is_seen(make_group, make_account, production_mode):
    if not production_mode:
        pytest.skip("the shared snapshot version lives in Redis (production mode)")
    from django.conf import settings

    from core.store.redis import RedisStore

    group = await make_group()
    account = await make_account(group)
    await pick(group)
    await orm(lambda: Account.objects.filter(pk=account.pk).update(status=Account.Status.DISABLED))
    RedisStore(settings.REDIS_URL).publish(snapshot.CHANNEL, "changed")  # another process's invalidate
    await asyncio.sleep(0.2)  # the message reaches this process's listener
    with pytest.raises(NoAccountAvailable):
        await select_account(request(group))


async def test_many_accounts_many_requests_never_exceed_account_limits(make_group, make_account):
    group = await make_group()
    accounts = [await make_account(group, concurrency=2) for _ in range(50)]
    leases = await asyncio.gather(*(select_account(request(group)) for _ in range(100)))
    per_account = {}
    for lease in leases:
        per_account[lease.account.pk] = per_account.get(lease.account.pk, 0) + 1
    assert len(per_account) == 50 and set(per_account.values()) == {2}
    await asyncio.gather(*(lease.release() for lease in leases))
    counts = await get_store().counts([slots.account_key(a.pk) for a in accounts])
    assert set(counts) == {0}


async def test_sticky_session_within_model_routing(make_group, make_account):
    group = await make_group(model_routing_enabled=True)
    a, b = await make_account(group), await make_account(group)
    outside = await make_account(group, priority=1)
    group.model_routing = {"claude-opus-*": [a.pk, b.pk]}
    await orm(group.save)
    first = await pick(group, model="claude-opus-4-5", session="routed")
    assert first in (a.pk, b.pk)
    for _ in range(3):
        assert await pick(group, model="claude-opus-4-5", session="routed") == first
    assert await pick(group, model="claude-sonnet-4-5", session="other") == outside.pk


async def test_busy_sticky_account_without_alternative_is_a_concurrency_error(make_group, make_account, settings):
    settings.STICKY_SESSION_WAIT_TIMEOUT = 0.2
    group = await make_group()
    await make_account(group, concurrency=1)
    held = await select_account(request(group, session="only"))
    with pytest.raises(ConcurrencyLimitExceeded):
        await select_account(request(group, session="only"))
    await held.release()
    lease = await select_account(request(group, session="only"))
    await lease.release()


async def test_hundreds_of_accounts_only_the_best_tier_is_read(make_group, make_account):
    group = await make_group()
    for n in range(200):
        await make_account(group, priority=10 + n % 4, concurrency=1)
    leases = [await select_account(request(group)) for _ in range(60)]
    # 50 accounts at priority 10 (one slot each) are full before priority 11 is used.
    assert [lease.account.priority for lease in leases] == [10] * 50 + [11] * 10
    assert len({lease.account.pk for lease in leases}) == 60
    for lease in leases:
        await lease.release()
