"""The shared asyncio Redis client (production mode), one per event loop."""

import asyncio

from django.conf import settings
from redis.asyncio import BlockingConnectionPool, Redis

_clients: dict[int, Redis] = {}


def get_redis() -> Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        pool = BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=512, timeout=5)
        client = _clients[id(loop)] = Redis(connection_pool=pool)
    return client
