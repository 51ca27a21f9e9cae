"""The store every gateway process shares (production): Redis, with Lua where a step must be atomic.

Slot keys follow the reference: sorted sets concurrency:user:{id} and concurrency:account:{id} scored with
the Redis server's time (so every process agrees on a slot's age), wait counters concurrency:wait:{user
id} and wait:account:{id}. Other keys are used as the caller names them.
"""

import asyncio
import contextlib
import logging
import time
import uuid

from django.conf import settings

from core.redis import get_redis, get_sync_redis
from core.store.base import Store

log = logging.getLogger(__name__)

WAIT_COUNTER_TTL = 120  # seconds; refreshed by every waiter that joins (reference §7)

# KEYS[1] slot set; ARGV limit, holder, ttl.
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
# KEYS[1] hash; ARGV ttl, then per window: name, start, used (see Store.merge_windows).
_MERGE_WINDOWS = """
for i = 2, #ARGV, 3 do
  local name, start, used = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local old_start = tonumber(redis.call('HGET', KEYS[1], 'window_' .. name) or '-1')
  local old_used = tonumber(redis.call('HGET', KEYS[1], 'usage_' .. name) or '0')
  if start > old_start or (start == old_start and used > old_used) then
    redis.call('HSET', KEYS[1], 'window_' .. name, ARGV[i + 1], 'usage_' .. name, ARGV[i + 2])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
# KEYS[1] sorted set of hits scored with the server's time; ARGV limit, period, member. A string answer:
# Lua numbers would be cut to integers.
_HIT_RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local limit = tonumber(ARGV[1])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(tonumber(oldest[2]) + period - now, 0.001))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000) + 1000)
return '0'
"""
_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def slot_key(key: str) -> str:
    return f"concurrency:{key}"


def wait_key(key: str) -> str:
    scope, _, ident = key.partition(":")
    return f"concurrency:wait:{ident}" if scope == "user" else f"wait:{key}"


class RedisStore(Store):
    shared = True

    def __init__(self, url: str):
        self.url = url
        # Pub/sub ignores database numbers: two deployments (or test runs) on one Redis server, each on
        # its own database, must not hear each other's messages.
        self._channel_prefix = f"db{get_sync_redis(url).connection_pool.connection_kwargs.get('db', 0)}:"
        self._scripts = {}
        self._listeners: dict[tuple[int, str], tuple[asyncio.Task, list]] = {}

    def _client(self):
        return get_redis(self.url)

    def _sync(self):
        return get_sync_redis(self.url)

    async def _run(self, source, keys, args):
        client = self._client()
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        return await script(keys=keys, args=args, client=client)

    # --- slots ---------------------------------------------------------------------------------------
    async def acquire(self, key, limit, holder):
        return bool(await self._run(_ACQUIRE, [slot_key(key)], [limit, holder, settings.CONCURRENCY_SLOT_TTL]))

    async def release_all(self, pairs):
        if len(pairs) == 1:
            await self._client().zrem(slot_key(pairs[0][0]), pairs[0][1])
            return
        async with self._client().pipeline(transaction=False) as pipe:
            for key, holder in pairs:
                pipe.zrem(slot_key(key), holder)
            await pipe.execute()

    async def refresh(self, key, holder):
        await self._run(_REFRESH, [slot_key(key)], [holder, settings.CONCURRENCY_SLOT_TTL])

    async def count(self, key):
        return await self._client().zcard(slot_key(key))

    async def counts(self, keys):
        if not keys:
            return []
        redis_keys = [slot_key(k) for k in keys] + [wait_key(k) for k in keys]
        return [int(n) for n in await self._run(_COUNTS, redis_keys, [len(keys)])]

    async def enter_wait(self, key, max_waiting):
        return bool(await self._run(_ENTER_WAIT, [wait_key(key)], [max_waiting, WAIT_COUNTER_TTL]))

    async def leave_wait(self, key):
        await self._run(_LEAVE_WAIT, [wait_key(key)], [])

    async def waiting(self, key):
        return int(await self._client().get(wait_key(key)) or 0)

    # --- values --------------------------------------------------------------------------------------
    async def get_many(self, keys):
        if len(keys) == 1:
            return [await self._client().get(keys[0])]
        return await self._client().mget(keys)

    async def set(self, key, value, ttl, only_if_absent=False):
        await self._client().set(key, value, px=max(int(ttl * 1000), 1), nx=only_if_absent)

    def delete_now(self, keys):
        if keys:
            self._sync().delete(*keys)

    def delete_prefix(self, prefix):
        client = self._sync()
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])

    # --- counters ------------------------------------------------------------------------------------
    def incr(self, key):
        return int(self._sync().incr(key))

    # --- spend windows -------------------------------------------------------------------------------
    def merge_windows(self, key, windows, ttl):
        args = [int(ttl)]
        for name, (start, used) in windows.items():
            args += [name, int(start), int(used)]
        self._sync().eval(_MERGE_WINDOWS, 1, key, *args)

    async def read_windows(self, key):
        raw = await self._client().hgetall(key)
        if not raw:
            return None
        out = {}
        for field, value in raw.items():
            kind, _, name = field.decode().partition("_")
            if kind == "window":
                out[name] = (int(value), int(raw.get(f"usage_{name}".encode(), b"0")))
        return out

    # --- sliding-window rates --------------------------------------------------------------------------
    async def hit_rate(self, key, limit, period, holder):
        return float(await self._run(_HIT_RATE, [key], [limit, period, holder]))

    # --- invalidation messages -----------------------------------------------------------------------
    def publish(self, channel, message):
        self._sync().publish(self._channel_prefix + channel, message)

    def listen(self, channel, callback):
        loop = asyncio.get_running_loop()
        entry = self._listeners.get((id(loop), channel))
        if entry is None or entry[0].done():
            callbacks = entry[1] if entry else []
            task = loop.create_task(self._listen(channel, callbacks))
            entry = self._listeners[(id(loop), channel)] = (task, callbacks)
        if callback not in entry[1]:
            entry[1].append(callback)

    async def _listen(self, channel, callbacks):
        while True:
            try:
                pubsub = self._client().pubsub()
                await pubsub.subscribe(self._channel_prefix + channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        for callback in list(callbacks):
                            callback(message["data"].decode())
            except asyncio.CancelledError:
                raise
            except Exception:
                # Messages may have been missed: tell the listeners that anything may have changed.
                log.warning("store: listener on %s failed; retrying", channel, exc_info=True)
                for callback in list(callbacks):
                    callback("*")
                await asyncio.sleep(1)

    # --- locks -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name, ttl):
        client, token = self._sync(), uuid.uuid4().hex
        deadline = time.monotonic() + ttl
        waited = False
        while not client.set(name, token, nx=True, ex=max(int(ttl), 1)):
            waited = True
            if time.monotonic() > deadline:
                yield False
                return
            time.sleep(0.1)
        try:
            yield not waited
        finally:
            client.eval(_UNLOCK, 1, name, token)
