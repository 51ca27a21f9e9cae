"""The Beta Policy applied to a request's `anthropic-beta` tokens on their way to an Anthropic upstream.

The rules are read at most every RULES_TTL seconds per process (and again at once after a change made in
this process), before the account is used (`ensure_loaded`, from the adapter's `prepare`); a block
answers 400 in the client's dialect and is never failed over.
"""

import time

from django.db.models.signals import post_delete, post_save

from accounts import betapolicy
from core import db
from gateway.errors import bad_request

RULES_TTL = 5.0
_cache: tuple[float, list] | None = None


def _load() -> list:
    global _cache
    from accounts.models import BetaRule

    rules = list(BetaRule.objects.all())
    _cache = (time.monotonic() + RULES_TTL, rules)
    return rules


async def ensure_loaded() -> None:
    if _cache is None or _cache[0] <= time.monotonic():
        await db.run(_load)


def _rules() -> list:
    return _cache[1] if _cache is not None else _load()  # loaded already on the gateway's path


def forget(**kwargs) -> None:
    global _cache
    _cache = None


post_save.connect(forget, sender="accounts.BetaRule", dispatch_uid="betapolicy-save")
post_delete.connect(forget, sender="accounts.BetaRule", dispatch_uid="betapolicy-delete")


def tokens_of(header: str) -> list[str]:
    return [t.strip() for t in (header or "").split(",") if t.strip()]


def filter_tokens(tokens: list[str], scope: str) -> list[str]:
    """The tokens that may reach an account of `scope`; GatewayError 400 when a rule blocks one."""
    rules = _rules()
    if not rules or not tokens:
        return tokens
    decision = betapolicy.decide(tokens, scope, rules)
    if decision.blocked is not None:
        raise bad_request(decision.message)
    return decision.tokens


def apply(header: str, scope: str) -> str:
    """An `anthropic-beta` header value after the policy."""
    tokens = tokens_of(header)
    kept = filter_tokens(tokens, scope)
    return header if kept == tokens else ",".join(kept)
