"""Concurrency slots: the limiter's rules on both implementations, and queueing for a user slot."""

import asyncio

import pytest

from core.store import get_store
from core.store.memory import MemoryStore
from core.store.redis import RedisStore, slot_key
from gateway import slots
from gateway.slots import ConcurrencyLimitExceeded


@pytest.fixture(params=["in-process", "redis"])
def limiter(request):
    if request.param == "in-process":
        return MemoryStore()
    return RedisStore(request.getfixturevalue("clean_redis"))


async def age_slot(limiter, key, holder, seconds):
    """Pretend a slot was taken `seconds` ago (as if its process had died back then)."""
    if isinstance(limiter, MemoryStore):
        limiter._holders[key][holder] -= seconds
    else:
        client = limiter._client()
        score = await client.zscore(slot_key(key), holder)
        await client.zadd(slot_key(key), {holder: score - seconds})


async def test_acquire_up_to_the_limit_then_release(limiter):
    assert await limiter.acquire("user:1", 2, "a")
    assert await limiter.acquire("user:1", 2, "b")
    assert not await limiter.acquire("user:1", 2, "c")
    assert await limiter.count("user:1") == 2
    assert await limiter.acquire("user:1", 2, "a")  # a holder that already has a slot keeps it
    await limiter.release("user:1", "a")
    assert await limiter.acquire("user:1", 2, "c")
    await limiter.release("user:1", "b")
    await limiter.release("user:1", "c")
    await limiter.release("user:1", "never-held")
    assert await limiter.count("user:1") == 0


async def test_release_all_gives_back_several_slots_at_once(limiter):
    assert await limiter.acquire("user:1", 2, "req-a")
    assert await limiter.acquire("account:7", 1, "req-a")
    assert await limiter.acquire("user:1", 2, "req-b")
    await limiter.release_all([("user:1", "req-a"), ("account:7", "req-a"), ("account:7", "never-held")])
    assert await limiter.count("user:1") == 1  # req-b keeps its slot
    assert await limiter.count("account:7") == 0


async def test_keys_are_independent_and_zero_means_unlimited(limiter):
    assert await limiter.acquire("account:1", 1, "a")
    assert await limiter.acquire("account:2", 1, "a")
    for n in range(50):
        assert await limiter.acquire("account:3", 0, f"h{n}")
    assert await limiter.counts(["account:1", "account:2", "account:3", "account:4"]) == [1, 1, 50, 0]


async def test_slots_of_a_dead_process_expire(limiter, settings):
    settings.CONCURRENCY_SLOT_TTL = 60
    assert await limiter.acquire("user:1", 1, "crashed")
    assert not await limiter.acquire("user:1", 1, "next")
    await age_slot(limiter, "user:1", "crashed", 120)
    assert await limiter.acquire("user:1", 1, "next")
    assert await limiter.count("user:1") == 1


async def test_refresh_keeps_a_long_stream_alive(limiter, settings):
    settings.CONCURRENCY_SLOT_TTL = 60
    assert await limiter.acquire("user:1", 1, "stream")
    await age_slot(limiter, "user:1", "stream", 50)
    await limiter.refresh("user:1", "stream")
    await age_slot(limiter, "user:1", "stream", 50)  # 100 s old in total, but refreshed 50 s ago
    assert not await limiter.acquire("user:1", 1, "next")
    await limiter.refresh("user:1", "not-a-holder")
    assert await limiter.count("user:1") == 1


async def test_concurrent_acquires_never_exceed_the_limit(limiter):
    results = await asyncio.gather(*(limiter.acquire("account:9", 5, f"h{n}") for n in range(200)))
    assert sum(results) == 5
    assert await limiter.count("account:9") == 5


async def test_wait_queue_is_bounded_and_counted(limiter):
    assert await limiter.enter_wait("user:1", 2)
    assert await limiter.enter_wait("user:1", 2)
    assert not await limiter.enter_wait("user:1", 2)
    assert await limiter.waiting("user:1") == 2
    assert await limiter.counts(["user:1"]) == [2]  # load = held + waiting
    await limiter.leave_wait("user:1")
    await limiter.leave_wait("user:1")
    assert await limiter.waiting("user:1") == 0


def test_mode_picks_the_implementation(settings):
    settings.REDIS_URL = ""
    assert isinstance(get_store(), MemoryStore)
    settings.REDIS_URL = "redis://127.0.0.1:6379/4"
    assert isinstance(get_store(), RedisStore)


# --- user slots with waiting (the mode's limiter) ------------------------------------------------------
async def test_user_slot_waits_then_times_out_with_pings(settings):
    settings.CONCURRENCY_WAIT_TIMEOUT = 0.6
    settings.CONCURRENCY_PING_INTERVAL = 0.1
    await slots.acquire_user_slot(7, 1, "first")
    pings = []

    async def ping():
        pings.append(1)

    with pytest.raises(ConcurrencyLimitExceeded) as error:
        await slots.acquire_user_slot(7, 1, "second", stream=True, on_wait=ping)
    assert error.value.scope == "user" and error.value.reason == "timeout"
    assert error.value.status == 429 and error.value.error_type == "rate_limit_error"
    assert "Concurrency limit exceeded for user" in error.value.message
    assert pings
    assert await get_store().waiting(slots.user_key(7)) == 0
    await slots.release_user_slot(7, "first")
    assert await get_store().count(slots.user_key(7)) == 0


async def test_user_slot_is_handed_to_a_waiter(settings):
    settings.CONCURRENCY_WAIT_TIMEOUT = 10
    await slots.acquire_user_slot(8, 1, "first")
    waiter = asyncio.create_task(slots.acquire_user_slot(8, 1, "second"))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await slots.release_user_slot(8, "first")
    await waiter
    assert await get_store().count(slots.user_key(8)) == 1
    await slots.release_user_slot(8, "second")


async def test_too_many_pending_requests(settings):
    await slots.acquire_user_slot(9, 1, "first")
    limiter = get_store()
    for _ in range(1 + slots.USER_EXTRA_WAITING):  # concurrency + 20 already queued
        assert await limiter.enter_wait(slots.user_key(9), 100)
    with pytest.raises(ConcurrencyLimitExceeded) as error:
        await slots.acquire_user_slot(9, 1, "late")
    assert error.value.reason == "queue_full"
    assert error.value.message == "Too many pending requests, please retry later"


async def test_unlimited_user(settings):
    for n in range(30):
        await slots.acquire_user_slot(10, 0, f"h{n}")
    assert await get_store().count(slots.user_key(10)) == 30


async def test_a_cancelled_waiter_leaves_the_queue(settings):
    settings.CONCURRENCY_WAIT_TIMEOUT = 10
    await slots.acquire_user_slot(11, 1, "first")
    waiter = asyncio.create_task(slots.acquire_user_slot(11, 1, "second"))
    await asyncio.sleep(0.2)
    assert await get_store().waiting(slots.user_key(11)) == 1
    waiter.cancel()  # the client went away while queued
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await get_store().waiting(slots.user_key(11)) == 0


async def test_held_slots_outlive_the_ttl_and_released_ones_are_forgotten(settings):
    settings.CONCURRENCY_SLOT_TTL = 2  # refreshed every 2/3 s while held
    await slots.acquire_user_slot(12, 1, "long-stream")
    await asyncio.sleep(3)
    assert not await get_store().acquire(slots.user_key(12), 1, "other")  # still held
    await slots.release_user_slot(12, "long-stream")
    assert (slots.user_key(12), "long-stream") not in slots._held
    assert await get_store().acquire(slots.user_key(12), 1, "other")


async def test_an_untracked_slot_expires_after_the_ttl(settings):
    settings.CONCURRENCY_SLOT_TTL = 1
    limiter = get_store()
    assert await limiter.acquire(slots.user_key(13), 1, "of-a-dead-process")  # nobody keeps it alive
    await asyncio.sleep(2.2)
    assert await limiter.acquire(slots.user_key(13), 1, "next")


async def test_invalidation_messages_stay_within_their_redis_database(clean_redis):
    """Pub/sub ignores database numbers; two deployments sharing one Redis server on different databases
    must not invalidate each other's caches."""
    base = clean_redis.rsplit("/", 1)[0]
    mine, neighbour, same = RedisStore(base + "/7"), RedisStore(base + "/8"), RedisStore(base + "/7")
    heard = []
    mine.listen("sched:test", heard.append)
    await asyncio.sleep(0.2)  # the subscription is in place
    neighbour.publish("sched:test", "theirs")
    same.publish("sched:test", "ours")
    for _ in range(50):
        if heard:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert heard == ["ours"]
    for task, _ in mine._listeners.values():
        task.cancel()
