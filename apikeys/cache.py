"""Invalidation of the gateway's key-auth cache.

INTERFACE: every code path that changes an API key, its user or its group calls one of these, after
the change is committed (model signals cover `save()`/`delete()`; queryset `.update()` callers must
call them themselves). The gateway issue implements the cache behind them (in-process + Redis).
"""


def invalidate_key(key_hash: str) -> None:
    """One key changed."""


def invalidate_user(user_id: int) -> None:
    """A user changed (status, balance top-up, concurrency): all of their keys."""


def invalidate_all() -> None:
    """A group changed: every cached key (groups are few and change rarely)."""
