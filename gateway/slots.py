"""Concurrency slots for users and accounts (spec §2.4).

INTERFACE: `get_limiter()` returns the Redis implementation when REDIS_URL is set, else the in-process
one; both implement `Limiter`. A slot is (key, holder): key "user:{id}" or "account:{id}", holder the
request id. The scheduling issue adds waiting queues, pings and expiry; the relay only calls
`acquire_user_slot` / `release`.
"""

import asyncio
from typing import Protocol


class ConcurrencyLimitExceeded(Exception):
    def __init__(self, scope: str, message: str):
        super().__init__(message)
        self.scope = scope  # "user" | "account"


class Limiter(Protocol):
    async def acquire(self, key: str, limit: int, holder: str) -> bool: ...
    async def release(self, key: str, holder: str) -> None: ...
    async def count(self, key: str) -> int: ...


class InProcessLimiter:
    def __init__(self):
        self._holders: dict[str, set[str]] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, key, limit, holder):
        holders = self._holders.setdefault(key, set())
        if limit > 0 and len(holders) >= limit:
            return False
        holders.add(holder)
        return True

    async def release(self, key, holder):
        self._holders.get(key, set()).discard(holder)

    async def count(self, key):
        return len(self._holders.get(key, ()))


_in_process = InProcessLimiter()


def get_limiter() -> Limiter:
    return _in_process


async def acquire_user_slot(user_id: int, limit: int, holder: str, stream: bool = False, on_wait=None) -> None:
    """Take one of the user's slots or raise ConcurrencyLimitExceeded.

    on_wait: optional async callable the implementation invokes periodically while it waits (the relay
    uses it to send SSE pings to a streaming client).
    """
    if not await get_limiter().acquire(f"user:{user_id}", limit, holder):
        raise ConcurrencyLimitExceeded("user", "Concurrency limit exceeded for user, please retry later")


async def release_user_slot(user_id: int, holder: str) -> None:
    await get_limiter().release(f"user:{user_id}", holder)
