"""Reading token usage out of Anthropic responses (spec §2.11)."""

from billing.cost import Usage
from gateway.cachettl import FIVE_M, ONE_H, as_int


def read_usage(data: dict, usage: Usage | None = None) -> Usage:
    """A JSON body's or `message_start`'s usage object: every field it has (absent counts as 0)."""
    usage = usage or Usage()
    if not isinstance(data, dict):
        return usage
    usage.input_tokens = as_int(data.get("input_tokens"))
    usage.output_tokens = as_int(data.get("output_tokens"))
    usage.cache_read_tokens = as_int(data.get("cache_read_input_tokens") or data.get("cached_tokens"))
    usage.cache_creation_tokens = as_int(data.get("cache_creation_input_tokens"))
    nested = data.get("cache_creation")
    if isinstance(nested, dict):
        usage.cache_creation_5m_tokens = as_int(nested.get(FIVE_M))
        usage.cache_creation_1h_tokens = as_int(nested.get(ONE_H))
    return usage


def merge_delta(data: dict, usage: Usage) -> Usage:
    """`message_delta`'s usage: output tokens, and any other count only when it is > 0."""
    if not isinstance(data, dict):
        return usage
    if "output_tokens" in data:
        usage.output_tokens = as_int(data.get("output_tokens"))
    for name, field in (
        ("input_tokens", "input_tokens"),
        ("cache_read_input_tokens", "cache_read_tokens"),
        ("cache_creation_input_tokens", "cache_creation_tokens"),
    ):
        if (value := as_int(data.get(name))) > 0:
            setattr(usage, field, value)
    nested = data.get("cache_creation")
    if isinstance(nested, dict):
        for name, field in ((FIVE_M, "cache_creation_5m_tokens"), (ONE_H, "cache_creation_1h_tokens")):
            if (value := as_int(nested.get(name))) > 0:
                setattr(usage, field, value)
    return usage
