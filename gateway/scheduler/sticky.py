"""Sticky sessions (spec §2.6): a conversation's session hash bound to the account that served it, so the
upstream prompt cache keeps hitting. Bindings live in the shared store for STICKY_SESSION_TTL seconds."""

from django.conf import settings

from core.store import get_store


def key(group_id: int | None, session_hash: str) -> str:
    return f"sticky_session:{group_id or 0}:{session_hash}"


async def bind(group_id: int | None, session_hash: str | None, account_id: int) -> None:
    if session_hash:
        await get_store().set(key(group_id, session_hash), account_id, settings.STICKY_SESSION_TTL)


async def unbind(group_id: int | None, session_hash: str) -> None:
    await get_store().delete(key(group_id, session_hash))


async def bound_account(group_id: int | None, session_hash: str) -> int | None:
    """The account a session is bound to (admin views, tests)."""
    value = await get_store().get(key(group_id, session_hash))
    return int(value) if value else None
