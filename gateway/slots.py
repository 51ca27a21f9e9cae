"""Concurrency slots for users and accounts (spec §2.4), kept in the shared store (core.store).

A slot is (key, holder): key "user:{id}" or "account:{id}", holder the request id. The pipeline calls
`acquire_user_slot`; the scheduler takes account slots through `take` / `wait_for_slot`; a request gives
both back with `give_back_all`. The store drops slots older than settings.CONCURRENCY_SLOT_TTL, so the
slots of a process that crashed come back by themselves; the slots a live process holds are refreshed
in the background (`take`), so a stream may outlive that TTL.

Waiting (a full key) is bounded twice: a wait counter per key caps how many requests may queue
(429 "Too many pending requests" beyond it), and each waiter gives up after a timeout (429
"Concurrency limit exceeded ..."). While waiting the caller's `on_wait` is invoked every
settings.CONCURRENCY_PING_INTERVAL seconds so a streaming client can be sent SSE pings.
"""

import asyncio
import logging
import random
import time

from django.conf import settings

from core.store import get_store

log = logging.getLogger(__name__)

USER_EXTRA_WAITING = 20  # a user may queue this many requests beyond their concurrency


class RateLimitExceeded(Exception):
    """A key's requests per minute stayed used up; a retry may succeed after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


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


def user_key(user_id: int) -> str:
    return f"user:{user_id}"


def account_key(account_id: int) -> str:
    return f"account:{account_id}"


def key_key(key_id: int) -> str:
    return f"key:{key_id}"


def key_rate(key_id: int) -> str:
    return f"rpm:key:{key_id}"


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
        store = get_store()
        for (key, holder), refreshed in list(_held.items()):
            if now - refreshed >= every and (key, holder) in _held:
                try:
                    await store.refresh(key, holder)
                except Exception:
                    log.exception("could not refresh slot %s", key)
                    continue
                if (key, holder) in _held:
                    _held[(key, holder)] = now


async def take(key: str, limit: int, holder: str) -> bool:
    """acquire() and keep the slot alive while held; give it back with `give_back`."""
    if await get_store().acquire(key, limit, holder):
        _track(key, holder)
        return True
    return False


async def give_back(key: str, holder: str) -> None:
    await give_back_all([(key, holder)])


async def give_back_all(pairs: list[tuple[str, str]]) -> None:
    for key, holder in pairs:
        _untrack(key, holder)
    await asyncio.shield(get_store().release_all(pairs))


def release_soon(key: str, holder: str) -> None:
    """Release from a task of its own: works while the caller is being cancelled."""
    _untrack(key, holder)
    _spawn(get_store().release(key, holder))


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
    store = get_store()
    if await take(key, limit, holder):
        return
    entered = await _settled(
        store.enter_wait(key, max_waiting), lambda entered: entered and _spawn(store.leave_wait(key))
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
        await asyncio.shield(store.leave_wait(key))
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


async def acquire_key_slots(key, holder: str) -> None:
    """A key's own limits, before its user's slot: its requests per minute (a sliding minute), then its
    concurrency. Each queues like a user slot (bounded, with a timeout) before it refuses; raises
    RateLimitExceeded or ConcurrencyLimitExceeded. Give the slot back with the request's other slots
    (`request_slots`)."""
    timeout = settings.CONCURRENCY_WAIT_TIMEOUT
    if key.rpm_limit > 0:
        await wait_for_rate(key_rate(key.key_id), key.rpm_limit, holder,
                            max_waiting=key.rpm_limit + USER_EXTRA_WAITING, timeout=timeout)
    if key.concurrency > 0:
        await wait_for_slot(key_key(key.key_id), key.concurrency, holder, scope="key",
                            max_waiting=key.concurrency + USER_EXTRA_WAITING, timeout=timeout)


def request_slots(key, holder: str) -> list[tuple[str, str]]:
    """The slots a request of `key` holds besides its account's: its user's, and its key's when limited."""
    pairs = [(user_key(key.user_id), holder)]
    if key.concurrency > 0:
        pairs.append((key_key(key.key_id), holder))
    return pairs


async def wait_for_rate(key: str, limit: int, holder: str, *, max_waiting: int, timeout: float) -> None:
    """Count one request of `key` within `limit` per settings.KEY_RPM_PERIOD (a sliding minute), queueing
    for up to `timeout` seconds when the next free moment comes that soon; raise RateLimitExceeded with
    when to retry."""
    store = get_store()
    wait = await store.hit_rate(key, limit, settings.KEY_RPM_PERIOD, holder)
    if not wait:
        return
    message = f"Rate limit exceeded: {limit} requests per minute for this API key, please retry later"
    if wait > timeout:  # waiting cannot help: say when it will
        raise RateLimitExceeded(message, wait)
    entered = await _settled(
        store.enter_wait(key, max_waiting), lambda entered: entered and _spawn(store.leave_wait(key))
    )
    if not entered:
        raise RateLimitExceeded("Too many pending requests, please retry later", wait)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            # Jitter so waiters freed by the same minute do not ask in lockstep.
            await asyncio.sleep(min(wait * random.uniform(1.0, 1.2), remaining))
            wait = await store.hit_rate(key, limit, settings.KEY_RPM_PERIOD, holder)
            if not wait:
                return
    finally:
        await asyncio.shield(store.leave_wait(key))
    raise RateLimitExceeded(message, wait)


async def release_user_slot(user_id: int, holder: str) -> None:
    await give_back(user_key(user_id), holder)


async def refresh_slots(holder: str, user_id: int | None = None, account_id: int | None = None) -> None:
    """Restart the expiry clock of a request's slots now. Optional: held slots are refreshed in the
    background anyway (see `take`)."""
    store = get_store()
    if user_id is not None:
        await store.refresh(user_key(user_id), holder)
    if account_id is not None:
        await store.refresh(account_key(account_id), holder)
