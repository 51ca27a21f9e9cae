"""Per-account cache-TTL override (spec S5): reclassify every prompt-cache write as one TTL tier.

Only accounts whose upstream adapter names a target are affected (Claude OAuth / setup-token accounts
with `cache_ttl_override` set; any value other than "1h" means "5m"). The sum of the two nested counts
moves into the target field and the other field becomes 0; the aggregate `cache_creation_input_tokens`
never changes.
"""

FIVE_M, ONE_H = "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"


def as_int(value) -> int:
    """Token counts may arrive as numbers or numeric strings."""
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):  # "abc", None, inf, nan
            return 0


def rewrite_nested(cache_creation, target: str) -> bool:
    """Move the nested split of an SSE usage object into the target tier; True if it changed.

    An absent (or non-object) split, or one that sums to 0, is left alone.
    """
    if not isinstance(cache_creation, dict):
        return False
    five, one = as_int(cache_creation.get(FIVE_M)), as_int(cache_creation.get(ONE_H))
    total = five + one
    if total <= 0:
        return False
    new = (total, 0) if target == "5m" else (0, total)
    if (five, one) == new and FIVE_M in cache_creation and ONE_H in cache_creation:
        return False
    cache_creation[FIVE_M], cache_creation[ONE_H] = new
    return True


def apply_to_usage(usage, target: str | None) -> bool:
    """Apply the override to parsed usage (billing); returns the usage log's `cache_ttl_overridden`.

    When the upstream reported only the aggregate, it is first read as 5m (spec S5 fallback).
    """
    if target is None:
        return False
    five, one = usage.cache_creation_5m_tokens, usage.cache_creation_1h_tokens
    if five + one == 0 and usage.cache_creation_tokens > 0:
        five = usage.cache_creation_tokens
    total = five + one
    if total <= 0:
        return False
    if target == "5m":
        usage.cache_creation_5m_tokens, usage.cache_creation_1h_tokens = total, 0
    else:
        usage.cache_creation_5m_tokens, usage.cache_creation_1h_tokens = 0, total
    return True


def rewrite_json_usage(body_usage: dict, usage, target: str | None) -> bool:
    """Non-streaming body: write the overridden split back when it differs from what the upstream sent.

    `usage` is the parsed usage before the override; this applies the override to it and creates the
    nested object when the upstream only sent the aggregate and the target is 1h. Returns whether the
    body changed.
    """
    before = (usage.cache_creation_5m_tokens, usage.cache_creation_1h_tokens)
    aggregate_only = before == (0, 0)
    if not apply_to_usage(usage, target):
        return False
    after = (usage.cache_creation_5m_tokens, usage.cache_creation_1h_tokens)
    if after == before or (aggregate_only and target == "5m"):
        return False
    nested = body_usage.get("cache_creation")
    if not isinstance(nested, dict):
        nested = body_usage["cache_creation"] = {}
    nested[FIVE_M], nested[ONE_H] = after
    return True
