"""The store of one process (embedded mode).

Async operations have no await inside, so each is atomic on the event loop; the sync ones (counters,
locks, invalidation from threads) take a lock of their own.

Other processes on the host (an operator's `manage.py` command disabling a key, say) cannot reach this
memory, so every publish also touches a marker file in DATA_DIR; the server looks at it at most once a
second (on its requests) and, when someone else touched it, tells every listener that anything may have
changed ("*"). A change made from the command line is seen within about a second.
"""

import collections
import contextlib
import os
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings

from core.store.base import Store

MAX_VALUES = 100_000  # beyond this, expired values are swept on the next write
MARKER = "changes"
MARKER_CHECK_EVERY = 1.0


class MemoryStore(Store):
    shared = False

    def __init__(self):
        self._holders: dict[str, dict[str, float]] = {}
        self._waiting: dict[str, int] = {}
        self._values: dict[str, tuple[bytes, float]] = {}
        self._counters: dict[str, int] = {}
        self._windows: dict[str, tuple[dict[str, tuple[int, int]], float]] = {}
        self._hits: dict[str, collections.deque] = {}
        self._listeners: dict[str, list] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._marker = Path(settings.DATA_DIR) / MARKER
        self._marker_seen = self._marker_state()
        self._marker_checked = time.monotonic()

    # --- changes made by other processes ---------------------------------------------------------
    def _marker_state(self):
        try:
            stat = self._marker.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _touch_marker(self) -> None:
        temporary = self._marker.with_name(f".{MARKER}-{uuid.uuid4().hex}")
        try:
            temporary.write_text(uuid.uuid4().hex)
            os.replace(temporary, self._marker)
        except OSError:
            return
        self._marker_seen = self._marker_state()

    def _poll_marker(self) -> None:
        now = time.monotonic()
        if now - self._marker_checked < MARKER_CHECK_EVERY:
            return
        self._marker_checked = now
        state = self._marker_state()
        if state != self._marker_seen:
            self._marker_seen = state
            self._windows.clear()  # another process may have reset a key's usage: read the database again
            self._tell_listeners("*")

    def notice_others(self) -> None:
        self._poll_marker()

    # --- slots ---------------------------------------------------------------------------------------
    def _live(self, key: str) -> dict[str, float]:
        holders = self._holders.get(key)
        if holders:
            oldest_allowed = time.monotonic() - settings.CONCURRENCY_SLOT_TTL
            for holder in [h for h, taken in holders.items() if taken < oldest_allowed]:
                del holders[holder]
        return holders or {}

    async def acquire(self, key, limit, holder):
        self._poll_marker()  # every request takes a slot: the cheapest place to look once a second
        holders = self._live(key)
        if holder not in holders and limit > 0 and len(holders) >= limit:
            return False
        self._holders.setdefault(key, holders)[holder] = time.monotonic()
        return True

    async def release_all(self, pairs):
        for key, holder in pairs:
            holders = self._holders.get(key)
            if holders is not None:
                holders.pop(holder, None)
                if not holders:
                    del self._holders[key]

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

    # --- values --------------------------------------------------------------------------------------
    async def get_many(self, keys):
        now = time.monotonic()
        out = []
        for key in keys:
            entry = self._values.get(key)
            out.append(entry[0] if entry is not None and entry[1] > now else None)
        return out

    async def set(self, key, value, ttl, only_if_absent=False):
        now = time.monotonic()
        if only_if_absent and (entry := self._values.get(key)) is not None and entry[1] > now:
            return
        if len(self._values) > MAX_VALUES:
            for stale in [k for k, (_, expires) in self._values.items() if expires <= now]:
                self._values.pop(stale, None)
        if not isinstance(value, bytes):
            value = str(value).encode()
        self._values[key] = (value, now + ttl)

    def delete_prefix(self, prefix):
        for key in [k for k in self._values if k.startswith(prefix)]:
            self._values.pop(key, None)

    # --- counters ------------------------------------------------------------------------------------
    def incr(self, key):
        with self._guard:
            value = self._counters[key] = self._counters.get(key, 0) + 1
        return value

    # --- spend windows -------------------------------------------------------------------------------
    def merge_windows(self, key, windows, ttl):
        with self._guard:  # charges merge from their threads
            held, expires = self._windows.get(key, ({}, 0.0))
            held = dict(held) if expires > time.monotonic() else {}
            for name, (start, used) in windows.items():
                old_start, old_used = held.get(name, (-1, 0))
                if start > old_start or (start == old_start and used > old_used):
                    held[name] = (start, used)
            self._windows[key] = (held, time.monotonic() + ttl)

    async def read_windows(self, key):
        self._poll_marker()
        entry = self._windows.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return dict(entry[0])

    def delete_now(self, keys):
        for key in keys:
            self._values.pop(key, None)
            self._windows.pop(key, None)

    # --- sliding-window rates --------------------------------------------------------------------------
    async def hit_rate(self, key, limit, period, holder):
        now = time.monotonic()
        hits = self._hits.setdefault(key, collections.deque())
        while hits and hits[0] <= now - period:
            hits.popleft()
        if limit > 0 and len(hits) >= limit:
            return max(hits[0] + period - now, 0.001)
        hits.append(now)
        return 0.0

    # --- invalidation messages -----------------------------------------------------------------------
    def publish(self, channel, message):
        for callback in list(self._listeners.get(channel, ())):
            callback(message)
        self._touch_marker()

    def _tell_listeners(self, message: str) -> None:
        for callbacks in list(self._listeners.values()):
            for callback in list(callbacks):
                callback(message)

    def listen(self, channel, callback):
        callbacks = self._listeners.setdefault(channel, [])
        if callback not in callbacks:
            callbacks.append(callback)

    # --- locks -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name, ttl):
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        waited = not lock.acquire(blocking=False)
        if waited and not lock.acquire(timeout=ttl):
            yield False
            return
        try:
            yield not waited
        finally:
            lock.release()
