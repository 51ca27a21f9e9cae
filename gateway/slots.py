"""Concurrency slots for users and accounts (spec §2.4).

INTERFACE: `get_limiter()` returns the Redis implementation when REDIS_URL is set, else the in-process
one; both implement `Limiter`. A slot is (key, holder): key "user:{id}" or "account:{id}", holder the
request id. The relay calls `acquire_user_slot` / `release_user_slot`; the scheduler takes account
slots itself (gateway.scheduler) through `take` / `give_back`.

A slot is a member of a per-key set scored with the time it was taken; members older than
settings.CONCURRENCY_SLOT_TTL are dropped on the next acquire, so the slots of a process that crashed
come back by themselves; the slots a live process holds are refreshed in the background (`take`), so a
stream may outlive that TTL.

Waiting (a full key) is bounded twice: a wait counter per key caps how many requests may queue
(429 "Too many pending requests" beyond it), and each waiter gives up after a timeout (429
"Concurrency limit exceeded ..."). While waiting the caller's `on_wait` is invoked every
settings.CONCURRENCY_PING_INTERVAL seconds so a streaming client can be sent SSE pings.
"""

import asyncio
import logging
import random
import time
from typing import Protocol

from django.conf import settings

log = logging.getLogger(__name__)

WAIT_COUNTER_TTL = 120  # seconds; refreshed by every waiter that joins (reference §7)
USER_EXTRA_WAITING = 20  # a user may queue this many requests beyond their concurrency


class ConcurrencyLimitExceeded(Exception):
    """Every slot of a user or account stayed taken. The relay answers 429 rate_limit_error with
    `message` in the protocol's error shape (Anthropic: {"type":"error","error":{"type":..,"message":..}})."""

    status = 429
    error_type = "rate_limit_error"

    def __init__(self, scope: str, message: str, reason: str = "timeout"):
        super().__init__(message)
        self.scope = scope  # "user" | "account"
        self.message = message
        self.reason = reason  # "timeout" | "queue_full"


class Limiter(Protocol):
    async def acquire(self, key: str, limit: int, holder: str) -> bool:
        """Take a slot of `key` for `holder` unless `limit` (> 0) are taken; limit <= 0 = unlimited but
        still counted. Taking a slot the holder already has succeeds."""

    async def release(self, key: str, holder: str) -> None: ...
    async def release_all(self, pairs: list[tuple[str, str]]) -> None: ...

    async def refresh(self, key: str, holder: str) -> None:
        """Restart the holder's expiry clock (long streams)."""

    async def count(self, key: str) -> int: ...

    async def counts(self, keys: list[str]) -> list[int]:
        """count() of many keys in one round trip: slots held plus requests waiting for the key."""

    async def enter_wait(self, key: str, max_waiting: int) -> bool:
        """Join the wait queue of `key` unless `max_waiting` are already waiting."""

    async def leave_wait(self, key: str) -> None: ...

    async def waiting(self, key: str) -> int: ...


class InProcessLimiter:
    """One process (embedded mode). No awaits inside an operation, so each one is atomic on the event
    loop; the dicts are only touched from event-loop code."""

    def __init__(self):
        self._holders: dict[str, dict[str, float]] = {}
        self._waiting: dict[str, int] = {}

    def _live(self, key: str) -> dict[str, float]:
        holders = self._holders.get(key)
        if holders:
            oldest_allowed = time.monotonic() - settings.CONCURRENCY_SLOT_TTL
            for holder in [h for h, taken in holders.items() if taken < oldest_allowed]:
                del holders[holder]
        return holders or {}

    async def acquire(self, key, limit, holder):
        holders = self._live(key)
        if holder not in holders and limit > 0 and len(holders) >= limit:
            return False
        self._holders.setdefault(key, holders)[holder] = time.monotonic()
        return True

    async def release(self, key, holder):
        holders = self._holders.get(key)
        if holders is not None:
            holders.pop(holder, None)
            if not holders:
                del self._holders[key]

    async def release_all(self, pairs):
        for key, holder in pairs:
            await self.release(key, holder)

    async def refresh(self, key, holder):
        holders = self._holders.get(key)
        if holders is not None and holder in holders:
            holders[holder] = time.monotonic()

    async def count(self, key):
        return len(self._live(key))

    async def counts(self, keys):
        return [len(self._live(k)) + self._waiting.get(k, 0) for k in keys]

    async def enter_wait(self, key, max_waiting):
        if self._waiting.get(key, 0) >= max_waiting:
            return False
        self._waiting[key] = self._waiting.get(key, 0) + 1
        return True

    async def leave_wait(self, key):
        left = self._waiting.get(key, 0) - 1
        if left > 0:
            self._waiting[key] = left
        else:
            self._waiting.pop(key, None)

    async def waiting(self, key):
        return self._waiting.get(key, 0)


# KEYS[1] slot set; ARGV limit, holder, ttl. Score = Redis server time, so every process agrees on age.
_ACQUIRE = """
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local limit = tonumber(ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""
_REFRESH = """
local now = tonumber(redis.call('TIME')[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""
# KEYS: N slot sets then their N wait counters; ARGV[1] = N. One reply instead of 2N.
_COUNTS = """
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  out[i] = redis.call('ZCARD', KEYS[i]) + tonumber(redis.call('GET', KEYS[n + i]) or '0')
end
return out
"""
# KEYS[1] wait counter; ARGV max, ttl.
_ENTER_WAIT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
_LEAVE_WAIT = """
local left = redis.call('DECR', KEYS[1])
if left <= 0 then redis.call('DEL', KEYS[1]) end
return left
"""


class RedisLimiter:
    """Shared by every gateway process. Keys follow the reference: concurrency:user:{id},
    concurrency:account:{id} (sorted sets), concurrency:wait:{user id} and wait:account:{id} (counters)."""

    def __init__(self, url: str | None = None):
        self._url = url  # None = the gateway's shared client (core.redis)
        self._clients = {}
        self._scripts = {}

    def _client(self):
        if self._url is None:
            from core.redis import get_redis

            return get_redis()
        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None:
            from redis.asyncio import Redis

            client = self._clients[id(loop)] = Redis.from_url(self._url)
        return client

    def _script(self, client, source):
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        return script

    async def _run(self, source, keys, args):
        client = self._client()
        return await self._script(client, source)(keys=keys, args=args, client=client)

    @staticmethod
    def slot_key(key: str) -> str:
        return f"concurrency:{key}"

    @staticmethod
    def wait_key(key: str) -> str:
        scope, _, ident = key.partition(":")
        return f"concurrency:wait:{ident}" if scope == "user" else f"wait:{key}"

    async def acquire(self, key, limit, holder):
        return bool(await self._run(_ACQUIRE, [self.slot_key(key)], [limit, holder, settings.CONCURRENCY_SLOT_TTL]))

    async def release(self, key, holder):
        await self._client().zrem(self.slot_key(key), holder)

    async def release_all(self, pairs):
        """Several slots in one round trip (a request gives back its user and account slots together)."""
        async with self._client().pipeline(transaction=False) as pipe:
            for key, holder in pairs:
                pipe.zrem(self.slot_key(key), holder)
            await pipe.execute()

    async def refresh(self, key, holder):
        await self._run(_REFRESH, [self.slot_key(key)], [holder, settings.CONCURRENCY_SLOT_TTL])

    async def count(self, key):
        return await self._client().zcard(self.slot_key(key))

    async def counts(self, keys):
        if not keys:
            return []
        redis_keys = [self.slot_key(k) for k in keys] + [self.wait_key(k) for k in keys]
        return [int(n) for n in await self._run(_COUNTS, redis_keys, [len(keys)])]

    async def enter_wait(self, key, max_waiting):
        return bool(await self._run(_ENTER_WAIT, [self.wait_key(key)], [max_waiting, WAIT_COUNTER_TTL]))

    async def leave_wait(self, key):
        await self._run(_LEAVE_WAIT, [self.wait_key(key)], [])

    async def waiting(self, key):
        return int(await self._client().get(self.wait_key(key)) or 0)


_in_process = InProcessLimiter()
_redis = RedisLimiter()


def get_limiter() -> Limiter:
    return _redis if settings.REDIS_URL else _in_process


def user_key(user_id: int) -> str:
    return f"user:{user_id}"


def account_key(account_id: int) -> str:
    return f"account:{account_id}"


# --- background work that must finish even when the caller is cancelled -------------------------------
_releasing: set = set()  # background releases, kept referenced until done


def _spawn(coro) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


async def _settled(coro, undo):
    """Await `coro` to the end even if the caller is cancelled meanwhile; a cancelled caller never
    learns the result, so `undo(result)` then runs for it (a counter taken must be given back)."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        def after(done):
            if not done.cancelled() and done.exception() is None:
                undo(done.result())

        task.add_done_callback(after)
        raise


# --- keeping held slots alive ------------------------------------------------------------------------
# Every slot this process holds is refreshed every third of the slot TTL, so a stream may run for as
# long as it likes while the slots of a process that died still expire after one TTL.
_held: dict[tuple[str, str], float] = {}
_keeper: asyncio.Task | None = None


def _track(key: str, holder: str) -> None:
    global _keeper
    _held[(key, holder)] = time.monotonic()
    loop = asyncio.get_running_loop()
    if _keeper is None or _keeper.done() or _keeper.get_loop() is not loop:
        _keeper = loop.create_task(_keep_alive())


def _untrack(key: str, holder: str) -> None:
    _held.pop((key, holder), None)


async def _keep_alive():
    while True:
        every = max(settings.CONCURRENCY_SLOT_TTL / 3, 0.2)
        await asyncio.sleep(every)
        now = time.monotonic()
        limiter = get_limiter()
        for (key, holder), refreshed in list(_held.items()):
            if now - refreshed >= every and (key, holder) in _held:
                try:
                    await limiter.refresh(key, holder)
                except Exception:
                    log.exception("could not refresh slot %s", key)
                    continue
                if (key, holder) in _held:
                    _held[(key, holder)] = now


async def take(key: str, limit: int, holder: str) -> bool:
    """acquire() and keep the slot alive while held; give it back with `give_back`."""
    if await get_limiter().acquire(key, limit, holder):
        _track(key, holder)
        return True
    return False


async def give_back(key: str, holder: str) -> None:
    await give_back_all([(key, holder)])


async def give_back_all(pairs: list[tuple[str, str]]) -> None:
    for key, holder in pairs:
        _untrack(key, holder)
    await asyncio.shield(get_limiter().release_all(pairs))


def release_soon(key: str, holder: str) -> None:
    """Release from a task of its own: works while the caller is being cancelled."""
    _untrack(key, holder)
    _spawn(get_limiter().release(key, holder))


# --- waiting for a slot -----------------------------------------------------------------------------
async def wait_for_slot(
    key: str, limit: int, holder: str, *, scope: str, max_waiting: int, timeout: float, on_wait=None,
) -> None:
    """Take a slot of `key`, queueing for up to `timeout` seconds; raise ConcurrencyLimitExceeded."""
    try:
        await _wait_for_slot(key, limit, holder, scope, max_waiting, timeout, on_wait)
    except ConcurrencyLimitExceeded:
        raise
    except BaseException:
        # Cancelled (client gone) or failed mid-call: a slot may have been taken for this holder.
        release_soon(key, holder)
        raise


async def _wait_for_slot(key, limit, holder, scope, max_waiting, timeout, on_wait):
    limiter = get_limiter()
    if await take(key, limit, holder):
        return
    entered = await _settled(
        limiter.enter_wait(key, max_waiting), lambda entered: entered and _spawn(limiter.leave_wait(key))
    )
    if not entered:
        raise ConcurrencyLimitExceeded(scope, "Too many pending requests, please retry later", reason="queue_full")
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_ping = loop.time() + settings.CONCURRENCY_PING_INTERVAL
        delay = 0.1
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            # ±20 % jitter so waiters that started together do not poll in lockstep.
            await asyncio.sleep(min(delay * random.uniform(0.8, 1.2), remaining))
            delay = min(delay * 1.5, 2.0)
            if await take(key, limit, holder):
                return
            if on_wait is not None and loop.time() >= next_ping:
                next_ping = loop.time() + settings.CONCURRENCY_PING_INTERVAL
                await on_wait()
    finally:
        await asyncio.shield(limiter.leave_wait(key))
    raise ConcurrencyLimitExceeded(scope, f"Concurrency limit exceeded for {scope}, please retry later")


# --- user slots (called by the relay) ------------------------------------------------------------------
async def acquire_user_slot(user_id: int, limit: int, holder: str, stream: bool = False, on_wait=None) -> None:
    """Take one of the user's slots or raise ConcurrencyLimitExceeded (limit <= 0 = unlimited).

    on_wait: optional async callable invoked every settings.CONCURRENCY_PING_INTERVAL while waiting
    (the relay uses it to send SSE pings to a streaming client). Release with `release_user_slot` on
    every path once acquired.
    """
    await wait_for_slot(
        user_key(user_id), limit, holder, scope="user", max_waiting=max(limit, 0) + USER_EXTRA_WAITING,
        timeout=settings.CONCURRENCY_WAIT_TIMEOUT, on_wait=on_wait,
    )


async def release_user_slot(user_id: int, holder: str) -> None:
    await give_back(user_key(user_id), holder)


async def refresh_slots(holder: str, user_id: int | None = None, account_id: int | None = None) -> None:
    """Restart the expiry clock of a request's slots now. Optional: held slots are refreshed in the
    background anyway (see `take`)."""
    limiter = get_limiter()
    if user_id is not None:
        await limiter.refresh(user_key(user_id), holder)
    if account_id is not None:
        await limiter.refresh(account_key(account_id), holder)
