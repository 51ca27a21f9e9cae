"""Whether a request comes from Claude Code, judged by what Claude Code sends (spec §2.3): the one home of
that rule, used by Claude-Code-only groups (gateway.scheduler).

Claude Code's user agent is `claude-cli/<major>.<minor>.<patch> (...)`; on the Messages API it also names
its session in `metadata.user_id` (the legacy `user_…_account_…_session_…` string or the JSON object).
Other calls (count_tokens, model lists) carry no metadata, so the user agent is enough there.
"""

import re

from gateway.sessions import session_id_from_metadata

USER_AGENT = re.compile(r"^claude-cli/\d+\.\d+\.\d+", re.IGNORECASE)


def is_claude_code(inbound) -> bool:
    if not USER_AGENT.match(inbound.user_agent or ""):
        return False
    if inbound.action != "messages":
        return True
    return isinstance(inbound.data, dict) and session_id_from_metadata(inbound.data) is not None
