"""The Redis clients of production mode: an asyncio client per event loop (the gateway's hot path) and
one thread-safe sync client per process (signal receivers, locks, commands)."""

import asyncio

from django.conf import settings
from redis import Redis as SyncRedis
from redis.asyncio import BlockingConnectionPool, Redis

_clients: dict[tuple[int, str], Redis] = {}
_sync_clients: dict[str, SyncRedis] = {}


def get_redis(url: str | None = None) -> Redis:
    """The asyncio client of this event loop for `url` (default settings.REDIS_URL)."""
    url = url or settings.REDIS_URL
    key = (id(asyncio.get_running_loop()), url)
    client = _clients.get(key)
    if client is None:
        pool = BlockingConnectionPool.from_url(url, max_connections=512, timeout=5)
        client = _clients[key] = Redis(connection_pool=pool)
    return client


def get_sync_redis(url: str | None = None) -> SyncRedis:
    url = url or settings.REDIS_URL
    client = _sync_clients.get(url)
    if client is None:
        client = _sync_clients[url] = SyncRedis.from_url(url, socket_timeout=5)
    return client
