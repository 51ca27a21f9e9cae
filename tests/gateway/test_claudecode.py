"""Who counts as Claude Code (gateway.claudecode): its user agent, and on the Messages API its session
metadata too."""

import json

import pytest

from gateway.claudecode import is_claude_code
from gateway.dialects.base import Inbound

LEGACY = "user_" + "a" * 64 + "_account__session_0f0e0d0c-0b0a-4989-8776-655443322110"
JSON_ID = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": "abc"})


def inbound(user_agent, data=None, action="messages"):
    return Inbound(dialect=None, action=action, endpoint="/v1/messages", body=b"", data=data or {}, model="m",
                   stream=False, user_agent=user_agent)


@pytest.mark.parametrize("user_agent, user_id, expected", [
    ("claude-cli/2.0.14 (external, cli)", JSON_ID, True),
    ("Claude-CLI/1.0.3", LEGACY, True),
    ("claude-cli/2.0.14 (external, cli)", None, False),  # the user agent alone is not enough here
    ("claude-cli/2.0.14 (external, cli)", "not-a-session", False),
    ("claude-cli/2.0", JSON_ID, False),  # not a full version
    ("Anthropic/Python 0.40.0", JSON_ID, False),
    ("my-claude-cli/2.0.14", JSON_ID, False),
    ("", JSON_ID, False),
])
def test_messages(user_agent, user_id, expected):
    data = {"metadata": {"user_id": user_id}} if user_id is not None else {}
    assert is_claude_code(inbound(user_agent, data)) is expected


def test_calls_without_metadata_go_by_the_user_agent():
    assert is_claude_code(inbound("claude-cli/2.0.14 (external, cli)", action="count_tokens"))
    assert not is_claude_code(inbound("python-httpx/0.27", action="count_tokens"))
