"""Who counts as Claude Code (gateway.claudecode): its user agent, and on the Messages API its headers,
session metadata and system prompt too."""

import json

import pytest

from gateway.claudecode import IDENTITIES, dice, is_claude_code
from gateway.dialects.base import Inbound

LEGACY = "user_" + "a" * 64 + "_account__session_0f0e0d0c-0b0a-4989-8776-655443322110"
JSON_ID = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": "abc"})
UA = "claude-cli/2.0.14 (external, cli)"
HEADERS = {"x-app": "cli", "anthropic-beta": "claude-code-20250219,oauth-2025-04-20", "anthropic-version": "2023-06-01"}
SYSTEM = [{"type": "text", "text": IDENTITIES[0], "cache_control": {"type": "ephemeral"}},
          {"type": "text", "text": "You are an interactive CLI tool that helps users with software engineering."}]


def inbound(user_agent=UA, user_id=JSON_ID, system=SYSTEM, headers=HEADERS, action="messages",
            model="claude-sonnet-4-5", stream=True, **fields):
    data = {"max_tokens": 32000, **fields}
    if user_id is not None:
        data["metadata"] = {"user_id": user_id}
    if system is not None:
        data["system"] = system
    return Inbound(dialect=None, action=action, endpoint="/v1/messages", body=b"", data=data, model=model,
                   stream=stream, headers=dict(headers), user_agent=user_agent)


def test_what_claude_code_sends_is_claude_code():
    assert is_claude_code(inbound())
    assert is_claude_code(inbound(user_agent="Claude-CLI/1.0.3", user_id=LEGACY))
    assert is_claude_code(inbound(system=IDENTITIES[2] + "\n\nMore instructions."))  # a plain-text system
    assert is_claude_code(inbound(system=[{"type": "text", "text": "You are Claude Code, Anthropic's CLI."}]))


@pytest.mark.parametrize("changes", [
    {"user_agent": "claude-cli/2.0"},  # not a full version
    {"user_agent": "Anthropic/Python 0.40.0"},
    {"user_agent": "my-claude-cli/2.0.14"},
    {"user_agent": ""},
    {"user_id": None},  # the user agent alone is not enough here
    {"user_id": "not-a-session"},
    {"system": None},
    {"system": "You are a helpful assistant."},
    {"system": [{"type": "text", "text": "You are ChatGPT, a large language model trained by OpenAI."}]},
    {"headers": {k: v for k, v in HEADERS.items() if k != "x-app"}},
    {"headers": {k: v for k, v in HEADERS.items() if k != "anthropic-beta"}},
    {"headers": {**HEADERS, "anthropic-version": ""}},
])
def test_a_request_missing_any_of_it_is_not(changes):
    assert not is_claude_code(inbound(**changes))


def test_the_quota_probe_needs_no_system_prompt():
    probe = {"system": None, "model": "claude-haiku-4-5", "stream": False, "max_tokens": 1}
    assert is_claude_code(inbound(**probe))
    assert not is_claude_code(inbound(**{**probe, "stream": True}))
    assert not is_claude_code(inbound(**{**probe, "max_tokens": 2}))
    assert not is_claude_code(inbound(**{**probe, "max_tokens": True}))
    assert not is_claude_code(inbound(**{**probe, "model": "claude-sonnet-4-5"}))


def test_calls_without_metadata_go_by_the_user_agent():
    assert is_claude_code(inbound(action="count_tokens", user_id=None, system=None, headers={}))
    assert not is_claude_code(inbound("python-httpx/0.27", action="count_tokens"))


def test_dice_compares_letter_pairs():
    assert dice("night", "nacht") == 0.25  # ni ig gh ht / na ac ch ht: one pair of four in common
    assert dice(IDENTITIES[0], IDENTITIES[0].upper()) == 1.0
    assert dice("", "x") == 0.0
