"""Model patterns: an exact model name, or a prefix ending in `*` (`claude-*`; a lone `*` matches all).

The one home of the rule, used by the account model mapping, the group model routing (gateway) and the
admin editors that validate what an operator types.
"""

from django.utils.translation import gettext

MAX_LENGTH = 200


def best_match(patterns, model: str):
    """The pattern of `patterns` that decides `model`: the exact name, else the longest matching `prefix*`."""
    if model in patterns:
        return model
    best = None
    for pattern in patterns:
        prefix = isinstance(pattern, str) and pattern.endswith("*") and model.startswith(pattern[:-1])
        if prefix and (best is None or len(pattern) > len(best)):
            best = pattern
    return best


def is_wildcard(pattern: str) -> bool:
    return pattern.endswith("*")


def pattern_error(pattern: str) -> str | None:
    """Why `pattern` is not a valid model pattern (in the active language), or None."""
    if not pattern:
        return gettext("A model pattern cannot be empty.")
    if len(pattern) > MAX_LENGTH:
        return gettext("A model pattern has at most %(count)d characters.") % {"count": MAX_LENGTH}
    if any(ch.isspace() for ch in pattern) or "\x00" in pattern:
        return gettext("A model pattern cannot contain spaces.")
    if "*" in pattern[:-1]:
        return gettext("“*” is only allowed at the end of a pattern (a prefix such as claude-*).")
    return None
