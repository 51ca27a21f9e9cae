"""Whether a request comes from Claude Code, judged by what Claude Code sends (spec §2.3): the one home of
that rule, used by Claude-Code-only groups (gateway.scheduler).

Claude Code's user agent is `claude-cli/<major>.<minor>.<patch> (...)`. On the Messages API it also sends
`x-app`, `anthropic-beta` and `anthropic-version`, names its session in `metadata.user_id` (the legacy
`user_…_account_…_session_…` string or the JSON object), and opens its system prompt with its identity
line; a reworded line still counts while its letter pairs mostly match one we know (Dice coefficient
≥ 0.5). Its quota probe (haiku, one token, not streamed) carries no system prompt. Other calls
(count_tokens, model lists) carry none of that, so the user agent is enough there.
"""

import re
from collections import Counter

from gateway.sessions import session_id_from_metadata

USER_AGENT = re.compile(r"^claude-cli/\d+\.\d+\.\d+", re.IGNORECASE)
HEADERS = ("x-app", "anthropic-beta", "anthropic-version")
# How Claude Code (and the Agent SDK built on it) introduces itself in the first system block.
IDENTITIES = (
    "You are Claude Code, Anthropic's official CLI for Claude.",
    "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK.",
    "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
)
SIMILAR = 0.5


def is_claude_code(inbound) -> bool:
    if not USER_AGENT.match(inbound.user_agent or ""):
        return False
    if inbound.action != "messages":
        return True
    data = inbound.data if isinstance(inbound.data, dict) else {}
    headers = inbound.headers or {}
    return (
        all(headers.get(name) for name in HEADERS)
        and session_id_from_metadata(data) is not None
        and (_is_quota_probe(inbound, data) or _opens_as_claude_code(data.get("system")))
    )


def _is_quota_probe(inbound, data: dict) -> bool:
    tokens = data.get("max_tokens")
    return not inbound.stream and type(tokens) is int and tokens == 1 and "haiku" in (inbound.model or "").lower()


def _opens_as_claude_code(system) -> bool:
    if isinstance(system, str):
        texts = [system]
    elif isinstance(system, list):
        texts = [block.get("text") for block in system[:2] if isinstance(block, dict)]
    else:
        return False
    # A block may go on after the identity line: compare the opening, twice the line's length at most.
    return any(
        isinstance(text, str) and _dice(_pairs(text[: 2 * len(known)]), pairs) >= SIMILAR
        for text in texts for known, pairs in _KNOWN_PAIRS
    )


def dice(a: str, b: str) -> float:
    """Dice's coefficient of the two texts' letter pairs (case and spacing ignored): 1 = the same pairs."""
    return _dice(_pairs(a), _pairs(b))


def _dice(pairs_a: Counter, pairs_b: Counter) -> float:
    total = sum(pairs_a.values()) + sum(pairs_b.values())
    return 2 * sum((pairs_a & pairs_b).values()) / total if total else 0.0


def _pairs(text: str) -> Counter:
    text = " ".join(text.lower().split())
    return Counter(text[i:i + 2] for i in range(len(text) - 1))


_KNOWN_PAIRS = [(known, _pairs(known)) for known in IDENTITIES]
