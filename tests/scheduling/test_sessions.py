"""Sticky-session hash: which requests count as one conversation."""

import json

from gateway.sessions import session_hash

UA = {"User-Agent": "claude-cli/2.1.22 (external, cli)"}


def body(messages, **extra):
    return {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": messages, **extra}


def test_legacy_metadata_user_id_gives_the_session_id():
    user_id = "user_" + "ab" * 32 + "_account_" + "_session_0a1b2c3d-0000-4000-8000-000000000001"
    assert session_hash(body([], metadata={"user_id": user_id}), UA, "1.2.3.4", 1) == (
        "0a1b2c3d-0000-4000-8000-000000000001"
    )
    with_account = "user_" + "cd" * 32 + "_account_11111111-2222-3333-4444-555555555555_session_abc-def"
    assert session_hash(body([], metadata={"user_id": with_account}), UA, "1.2.3.4", 1) == "abc-def"


def test_json_metadata_user_id_gives_the_session_id():
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "acc", "session_id": "sess-42"})
    first = session_hash(body([{"role": "user", "content": "hi"}], metadata={"user_id": user_id}), UA, "1.1.1.1", 1)
    other_client = session_hash(body([], metadata={"user_id": user_id}), {}, "9.9.9.9", 2)
    assert first == other_client == "sess-42"


def test_unparseable_user_id_falls_back_to_content():
    a = session_hash(body([{"role": "user", "content": "hi"}], metadata={"user_id": "someone"}), UA, "1.1.1.1", 1)
    b = session_hash(body([{"role": "user", "content": "hi"}], metadata={"user_id": "{not json"}), UA, "1.1.1.1", 1)
    assert a == b and a != "someone"


def cached_message(text):
    return {"role": "user", "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]}


def test_cache_controlled_prefix_identifies_the_conversation_across_clients():
    first = session_hash(body([cached_message("long shared prompt")]), UA, "1.1.1.1", 1)
    later = body([cached_message("long shared prompt"), {"role": "assistant", "content": "ok"},
                  {"role": "user", "content": "next"}])
    assert session_hash(later, {"User-Agent": "other"}, "2.2.2.2", 5) == first
    assert session_hash(body([cached_message("another prompt")]), UA, "1.1.1.1", 1) != first


def test_cached_system_blocks_when_no_message_is_cached():
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    a = session_hash(body([{"role": "user", "content": "q1"}], system=system), UA, "1.1.1.1", 1)
    b = session_hash(body([{"role": "user", "content": "q2"}], system=system), UA, "3.3.3.3", 2)
    assert a == b


def test_fallback_depends_on_client_key_and_text():
    msgs = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    base = session_hash(body(msgs, system="be brief"), UA, "1.1.1.1", 1)
    assert session_hash(body(msgs, system="be brief"), UA, "1.1.1.1", 1) == base
    assert session_hash(body(msgs, system="be brief"), UA, "1.1.1.2", 1) != base
    assert session_hash(body(msgs, system="be brief"), UA, "1.1.1.1", 2) != base
    assert session_hash(body(msgs, system="be brief"), {"User-Agent": "x"}, "1.1.1.1", 1) != base
    assert session_hash(body(msgs, system="be long"), UA, "1.1.1.1", 1) != base


def test_the_hash_uses_the_address_auth_resolved_not_the_headers():
    """Forwarding headers are core.clientip's to believe (TRUSTED_PROXIES); the hash takes its answer."""
    msgs = [{"role": "user", "content": "hi"}]
    assert session_hash(body(msgs), {"X-Forwarded-For": "7.7.7.7"}, "1.1.1.1", 1) == session_hash(
        body(msgs), {"X-Real-IP": "9.9.9.9"}, "1.1.1.1", 1
    )
    assert session_hash(body(msgs), {}, "1.1.1.1", 1) != session_hash(body(msgs), {}, "2.2.2.2", 1)


def test_gemini_bodies_and_prefix():
    system = {"parts": [{"text": "s"}]}
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "systemInstruction": system}
    other = {"contents": [{"role": "user", "parts": [{"text": "ho"}]}], "systemInstruction": system}
    a = session_hash(gemini, {}, "1.1.1.1", 1, platform="gemini")
    assert a.startswith("gemini:")
    assert a != session_hash(other, {}, "1.1.1.1", 1, platform="gemini")


def test_not_an_object():
    assert session_hash([], {}, "1.1.1.1", 1) == ""
