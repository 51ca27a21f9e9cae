"""What a store offers. Async methods serve the gateway's event loop; the few sync ones are for code that
runs on threads (model signal receivers, OAuth refresh, commands).

Slots: a slot is (key, holder); key "user:{id}" or "account:{id}", holder a request id. A slot older
than settings.CONCURRENCY_SLOT_TTL is dropped on the next acquire, so the slots of a process that died
come back by themselves; `refresh` restarts a held slot's clock. A wait counter per key bounds how many
requests may queue for it.
"""

import contextlib
from collections.abc import Callable, Iterator


class Store:
    # True when other processes see the same data (Redis); the memory store is this process's alone.
    shared = False

    # --- slots ---------------------------------------------------------------------------------------
    async def acquire(self, key: str, limit: int, holder: str) -> bool:
        """Take a slot of `key` for `holder` unless `limit` (> 0) are taken; limit <= 0 = unlimited but
        still counted. Taking a slot the holder already has succeeds."""
        raise NotImplementedError

    async def release(self, key: str, holder: str) -> None:
        await self.release_all([(key, holder)])

    async def release_all(self, pairs: list[tuple[str, str]]) -> None:
        """Several slots in one go (a request gives back its user and account slots together)."""
        raise NotImplementedError

    async def refresh(self, key: str, holder: str) -> None:
        raise NotImplementedError

    async def count(self, key: str) -> int:
        raise NotImplementedError

    async def counts(self, keys: list[str]) -> list[int]:
        """For many keys at once: slots held plus requests waiting (the scheduler's load)."""
        raise NotImplementedError

    async def enter_wait(self, key: str, max_waiting: int) -> bool:
        """Join the wait queue of `key` unless `max_waiting` are already waiting."""
        raise NotImplementedError

    async def leave_wait(self, key: str) -> None:
        raise NotImplementedError

    async def waiting(self, key: str) -> int:
        raise NotImplementedError

    # --- values with an expiry (sticky sessions, the auth cache tier) --------------------------------
    async def get(self, key: str) -> bytes | None:
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        raise NotImplementedError

    async def set(self, key: str, value: bytes | str | int, ttl: float, only_if_absent: bool = False) -> None:
        raise NotImplementedError

    async def delete(self, key: str) -> None:
        self.delete_now([key])

    def delete_now(self, keys: list[str]) -> None:
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> None:
        raise NotImplementedError

    # --- counters ------------------------------------------------------------------------------------
    def incr(self, key: str) -> int:
        raise NotImplementedError

    # --- spend windows (apikeys.windows) -------------------------------------------------------------
    def merge_windows(self, key: str, windows: dict[str, tuple[int, int]], ttl: float) -> None:
        """Merge name → (start, used) into `key`, per window: a later start replaces, an equal start keeps
        the larger used, an earlier start is ignored (so reports arriving out of order never go back)."""
        raise NotImplementedError

    async def read_windows(self, key: str) -> dict[str, tuple[int, int]] | None:
        """What `merge_windows` holds for `key`, or None when nothing is held."""
        raise NotImplementedError

    # --- sliding-window rates ------------------------------------------------------------------------
    async def hit_rate(self, key: str, limit: int, period: float, holder: str) -> float:
        """Count one hit of `key` unless `limit` hits happened in the last `period` seconds. Returns 0 when
        counted, else the seconds until the oldest of those hits leaves the period."""
        raise NotImplementedError

    # --- invalidation messages -----------------------------------------------------------------------
    def publish(self, channel: str, message: str) -> None:
        """Tell every process (this one included) listening on `channel`."""
        raise NotImplementedError

    def notice_others(self) -> None:
        """Take in the changes other processes announced where they are not pushed (the memory store's
        marker file); nothing to do where they arrive by themselves (Redis pub/sub)."""

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call `callback(message)` for every message on `channel`, from now on. Idempotent per callback;
        a Redis listener runs on the caller's event loop (call it from async code)."""
        raise NotImplementedError

    # --- locks -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, ttl: float) -> Iterator[bool]:
        """One holder at a time across every process. Yields True when it was taken at once; False when
        the caller had to wait (someone else did the work meanwhile) or gave up after `ttl` seconds."""
        raise NotImplementedError
        yield False
