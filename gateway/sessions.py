"""Sticky-session hash (spec §2.6): which requests belong to one conversation and should stay on one
account, so the upstream prompt cache keeps hitting.

1. `metadata.user_id` names the session (Claude Code): its session id, verbatim.
2. Else the cache-controlled prompt prefix: the first message with an ephemeral cache_control block,
   or else the system blocks that carry one.
3. Else the client (IP, user agent, key) plus the whole system and message text.
"""

import hashlib
import re

from core import jsonutil

# user_<hex>_account_<uuid or empty>_session_<uuid>
_LEGACY_USER_ID = re.compile(r"^user_[0-9a-fA-F]+_account_[0-9a-fA-F-]*_session_([0-9a-fA-F-]+)$")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _header(headers, name: str) -> str:
    if not headers:
        return ""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower(), headers.get(name.title()))
    return value or ""


def session_id_from_metadata(body: dict) -> str | None:
    """The session id inside metadata.user_id, in either the legacy string or the JSON form."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    if user_id.lstrip().startswith("{"):
        parsed = jsonutil.parse(user_id)
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        return session if isinstance(session, str) and session else None
    match = _LEGACY_USER_ID.match(user_id)
    return match.group(1) if match else None


def _blocks(content) -> list:
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _text_of(content) -> str:
    """Concatenated text of a message content / system value (string, Anthropic blocks, Gemini parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):  # Gemini systemInstruction / content object
        return _text_of(content.get("parts"))
    return "".join(b["text"] for b in _blocks(content) if isinstance(b.get("text"), str))


def _is_cached(block: dict) -> bool:
    control = block.get("cache_control")
    return isinstance(control, dict) and control.get("type") == "ephemeral"


def _cacheable_text(body: dict) -> str:
    for message in body.get("messages") or ():
        if isinstance(message, dict) and any(_is_cached(b) for b in _blocks(message.get("content"))):
            return _text_of(message.get("content"))
    return "".join(
        b["text"] for b in _blocks(body.get("system")) if _is_cached(b) and isinstance(b.get("text"), str)
    )


def _all_text(body: dict) -> str:
    parts = [_text_of(body.get("system")), _text_of(body.get("systemInstruction"))]
    for message in list(body.get("messages") or ()) + list(body.get("contents") or ()):
        if isinstance(message, dict):
            parts.append(_text_of(message.get("content") if "content" in message else message.get("parts")))
    return "".join(parts)


def session_hash(body: dict, headers, client_ip: str | None, api_key_id, platform: str = "") -> str:
    """The sticky-session key of a request ("" only for a body that is not an object)."""
    if not isinstance(body, dict):
        return ""
    prefix = "gemini:" if platform == "gemini" else ""
    if session := session_id_from_metadata(body):
        # Verbatim (the reference's key), unless a client sends something unreasonably long.
        return prefix + (session if len(session) <= 128 else _digest(session))
    if cacheable := _cacheable_text(body):
        return prefix + _digest(cacheable)
    client = f"{client_ip or ''}:{_header(headers, 'User-Agent')}:{api_key_id}|"
    return prefix + _digest(client + _all_text(body))
