"""Sticky sessions (spec §2.6): a conversation's session hash bound to the account that served it, so the
upstream prompt cache keeps hitting. Bindings live in the shared store for STICKY_SESSION_TTL seconds.

With a shared store, a process also keeps the bindings it read or made for LOCAL_TTL seconds, so a busy
conversation costs no store round trip per request. Another process may rebind a session meanwhile (its
account became unusable there); this one follows within LOCAL_TTL, and until then only the prompt cache
can miss, never a limit: the chosen account is checked and its slot taken as always.
"""

import time

from django.conf import settings

from core.store import get_store

LOCAL_TTL = 5.0
LOCAL_MAX = 100_000
_local: dict[str, tuple[int, float]] = {}


def key(group_id: int | None, session_hash: str) -> str:
    return f"sticky_session:{group_id or 0}:{session_hash}"


def _remember(name: str, account_id: int) -> None:
    now = time.monotonic()
    if len(_local) >= LOCAL_MAX:
        for stale in [k for k, (_, until) in _local.items() if until <= now]:
            del _local[stale]
        if len(_local) >= LOCAL_MAX:
            _local.clear()
    _local[name] = (account_id, now + LOCAL_TTL)


async def bind(group_id: int | None, session_hash: str | None, account_id: int) -> None:
    if not session_hash:
        return
    name = key(group_id, session_hash)
    store = get_store()
    await store.set(name, account_id, settings.STICKY_SESSION_TTL)
    if store.shared:
        _remember(name, account_id)


async def unbind(group_id: int | None, session_hash: str) -> None:
    name = key(group_id, session_hash)
    _local.pop(name, None)
    await get_store().delete(name)


async def bound_account(group_id: int | None, session_hash: str) -> int | None:
    """The account a session is bound to, or None."""
    name = key(group_id, session_hash)
    store = get_store()
    if store.shared and (entry := _local.get(name)) is not None and entry[1] > time.monotonic():
        return entry[0]
    value = await store.get(name)
    if not value:
        return None
    if store.shared:
        _remember(name, int(value))
    return int(value)


def forget() -> None:
    """Tests: start from nothing."""
    _local.clear()
