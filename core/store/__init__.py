"""The gateway's shared state behind one interface, like Django's session backends.

Concurrency slots and their wait queues, sticky-session bindings, the scheduler's snapshot version, the
auth cache's shared tier, invalidation messages and locks all live in a `Store` (store/base.py). Two
backends implement it: `memory` (one process: the embedded mode) and `redis` (every process and host
shares it: production). `get_store()` returns the one for the configured REDIS_URL, created once.
"""

from django.conf import settings

from core.store.base import Store

_stores: dict[str, Store] = {}


def get_store() -> Store:
    url = settings.REDIS_URL
    store = _stores.get(url)
    if store is None:
        if url:
            from core.store.redis import RedisStore

            store = RedisStore(url)
        else:
            from core.store.memory import MemoryStore

            store = MemoryStore()
        _stores[url] = store
    return store


__all__ = ["Store", "get_store"]
