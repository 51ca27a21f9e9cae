"""Model prices in USD per million tokens: the shipped table, the admin's overrides, the fallback.

Lookup of a model name, first in the admin's `ModelPrice` rows, then in the shipped table: the exact
name, then the normalised name (lower case, dots as dashes, provider/region prefixes and the date or
Bedrock version suffix removed: `us.anthropic.claude-sonnet-4-5-20250929-v1:0` → `claude-sonnet-4-5`),
then the longest table entry the normalised name starts with (`claude-opus-4-1-…` → `claude-opus-4-1`).
A name that matches nothing is priced as `settings.FALLBACK_PRICE_MODEL` and flagged.
"""

import re
import time
from dataclasses import dataclass, replace
from decimal import Decimal

from django.conf import settings
from django.db.models.signals import post_delete, post_save


@dataclass(frozen=True)
class Price:
    """Per million tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    # Long-context tier (Gemini): a request whose prompt is above `long_context_above` tokens pays the
    # `long_context` rates for all its tokens. 0 / None = one tier only.
    long_context_above: int = 0
    long_context: "Price | None" = None

    @property
    def has_ttl_breakdown(self) -> bool:
        """Whether 1-hour cache writes cost more than 5-minute ones (then the split is billed)."""
        return self.cache_write_1h > self.cache_write_5m

    def for_prompt(self, prompt_tokens: int) -> "Price":
        """The rates a request with this many prompt tokens (input + cached) pays."""
        if self.long_context is not None and self.long_context_above and prompt_tokens > self.long_context_above:
            return self.long_context
        return self


def _p(inp, out, read, w5m, w1h) -> Price:
    return Price(*(Decimal(v) for v in (inp, out, read, w5m, w1h)))


LONG_CONTEXT_ABOVE = 200_000  # Gemini's long-context tier starts above 200k prompt tokens


def _gemini(inp, out, read, long=None) -> Price:
    """A Gemini price: no cache writes billed per request (storage is billed by the hour); `long` =
    (input, output, cache read) for prompts above 200,000 tokens."""
    price = _p(inp, out, read, inp, inp)
    if long is None:
        return price
    return replace(price, long_context_above=LONG_CONTEXT_ABOVE, long_context=_p(*long, long[0], long[0]))


def _openai(inp, cached, out) -> Price:
    # OpenAI reports no cache writes; should an OpenAI-compatible upstream report some, they cost input.
    return _p(inp, out, cached, inp, inp)


# Anthropic list prices (https://docs.anthropic.com/en/docs/about-claude/pricing): cache writes are
# 1.25x input (5 min) and 2x input (1 h), cache reads 0.1x input.
SHIPPED: dict[str, Price] = {
    "claude-opus-4-6": _p("5", "25", "0.50", "6.25", "10"),
    "claude-opus-4-5": _p("5", "25", "0.50", "6.25", "10"),
    "claude-opus-4-1": _p("15", "75", "1.50", "18.75", "30"),
    "claude-opus-4": _p("15", "75", "1.50", "18.75", "30"),
    "claude-sonnet-4-6": _p("3", "15", "0.30", "3.75", "6"),
    "claude-sonnet-4-5": _p("3", "15", "0.30", "3.75", "6"),
    "claude-sonnet-4": _p("3", "15", "0.30", "3.75", "6"),
    "claude-3-7-sonnet": _p("3", "15", "0.30", "3.75", "6"),
    "claude-haiku-4-5": _p("1", "5", "0.10", "1.25", "2"),
    "claude-3-5-haiku": _p("0.80", "4", "0.08", "1", "1.6"),
    "claude-3-haiku": _p("0.25", "1.25", "0.03", "0.30", "0.50"),
    # Gemini Developer API, Standard tier (https://ai.google.dev/gemini-api/docs/pricing): text/image/video
    # input; output includes thinking tokens; cache read = context caching price. Keys are normalised names.
    "gemini-3-1-pro": _gemini("2", "12", "0.20", long=("4", "18", "0.40")),
    "gemini-3-pro": _gemini("2", "12", "0.20", long=("4", "18", "0.40")),
    "gemini-3-flash": _gemini("0.50", "3", "0.05"),
    "gemini-2-5-pro": _gemini("1.25", "10", "0.125", long=("2.50", "15", "0.25")),
    "gemini-2-5-flash": _gemini("0.30", "2.50", "0.03"),
    "gemini-2-5-flash-lite": _gemini("0.10", "0.40", "0.01"),
    "gemini-2-0-flash": _gemini("0.10", "0.40", "0.025"),
    "gemini-2-0-flash-lite": _gemini("0.075", "0.30", "0.075"),
    # OpenAI standard-tier prices per million tokens: input, cached input, output
    # (https://developers.openai.com/api/docs/pricing and each model's page under
    # https://developers.openai.com/api/docs/models/, read 2026-12). Keys are normalised names
    # (gpt-5.4 -> gpt-5-4); dated snapshots (gpt-4o-2024-08-06) match their family. OpenAI bills no
    # cache writes; models without a cached-input price bill cached tokens as input.
    "gpt-5-5": _openai("5", "0.50", "30"),
    "gpt-5-5-pro": _openai("30", "30", "180"),
    "gpt-5-4": _openai("2.50", "0.25", "15"),
    "gpt-5-4-mini": _openai("0.75", "0.075", "4.50"),
    "gpt-5-4-nano": _openai("0.20", "0.02", "1.25"),
    "gpt-5-4-pro": _openai("30", "30", "180"),
    "gpt-5-3-codex": _openai("1.75", "0.175", "14"),
    "gpt-5-2": _openai("1.75", "0.175", "14"),
    "gpt-5-2-codex": _openai("1.75", "0.175", "14"),
    "gpt-5-2-pro": _openai("21", "21", "168"),
    "gpt-5-1": _openai("1.25", "0.125", "10"),
    "gpt-5-1-codex": _openai("1.25", "0.125", "10"),
    "gpt-5-1-codex-max": _openai("1.25", "0.125", "10"),
    "gpt-5-1-codex-mini": _openai("0.25", "0.025", "2"),
    "gpt-5": _openai("1.25", "0.125", "10"),
    "gpt-5-codex": _openai("1.25", "0.125", "10"),
    "gpt-5-mini": _openai("0.25", "0.025", "2"),
    "gpt-5-nano": _openai("0.05", "0.005", "0.40"),
    "gpt-5-pro": _openai("15", "15", "120"),
    "gpt-4-1": _openai("2", "0.50", "8"),
    "gpt-4-1-mini": _openai("0.40", "0.10", "1.60"),
    "gpt-4-1-nano": _openai("0.10", "0.025", "0.40"),
    "gpt-4o": _openai("2.50", "1.25", "10"),
    "gpt-4o-mini": _openai("0.15", "0.075", "0.60"),
    "o3": _openai("2", "0.50", "8"),
    "o3-pro": _openai("20", "20", "80"),
    "o3-mini": _openai("1.10", "0.55", "4.40"),
    "o4-mini": _openai("1.10", "0.275", "4.40"),
    "o1": _openai("15", "7.50", "60"),
    "codex-mini-latest": _openai("1.50", "0.375", "6"),
}

_PREFIX = re.compile(r"^(?:(?:us|eu|apac|global|jp|au)\.)?(?:anthropic[./])?")
_SUFFIX = re.compile(r"(?:-v\d+(?::\d+)?)?(?:\[1m\])?$")
_DATE = re.compile(r"-\d{8}$")


def normalize(model: str) -> str:
    name = _PREFIX.sub("", model.strip().lower())
    name = _SUFFIX.sub("", name)
    return _DATE.sub("", name).replace(".", "-")


def _match_key(model: str, table: dict[str, Price]) -> str | None:
    """The table entry that prices this model name, or None."""
    if model in table:
        return model
    name = normalize(model)
    if name in table:
        return name
    best = None
    for key in table:
        if name.startswith(key + "-") and (best is None or len(key) > len(best)):
            best = key
    return best


def _match(model: str, table: dict[str, Price]) -> Price | None:
    key = _match_key(model, table)
    return None if key is None else table[key]


# The admin's prices, read at most every ADMIN_PRICES_TTL seconds per process (and again right after a
# change made in this process): every charge needs them.
ADMIN_PRICES_TTL = 30.0
_admin_cache: tuple[float, dict[str, Price]] | None = None


def admin_prices() -> dict[str, Price]:
    global _admin_cache
    from billing.models import ModelPrice

    if _admin_cache is not None and _admin_cache[0] > time.monotonic():
        return _admin_cache[1]
    table = {
        row.model: Price(row.input, row.output, row.cache_read, row.cache_write_5m, row.cache_write_1h)
        for row in ModelPrice.objects.all()
    }
    _admin_cache = (time.monotonic() + ADMIN_PRICES_TTL, table)
    return table


def forget_admin_prices(**kwargs):
    global _admin_cache
    _admin_cache = None


post_save.connect(forget_admin_prices, sender="billing.ModelPrice", dispatch_uid="prices-save")
post_delete.connect(forget_admin_prices, sender="billing.ModelPrice", dispatch_uid="prices-delete")


def lookup(*models: str, overrides: dict[str, Price] | None = None) -> tuple[Price, bool]:
    """The price of the first model (of the given names, in order) that matches; (price, used_fallback)."""
    overrides = admin_prices() if overrides is None else overrides
    for model in models:
        if not model:
            continue
        for table in (overrides, SHIPPED):
            if (price := _match(model, table)) is not None:
                return price, False
    fallback = settings.FALLBACK_PRICE_MODEL
    return _match(fallback, overrides) or _match(fallback, SHIPPED) or SHIPPED["claude-sonnet-4-5"], True


def shipped_table(overrides: dict[str, Price] | None = None) -> list[dict]:
    """The built-in prices for the admin to read: [{model, price, override}], where `override` names the
    admin's price that wins for requests of that model (None: the built-in price is charged)."""
    overrides = admin_prices() if overrides is None else overrides
    return [{"model": model, "price": price, "override": _match_key(model, overrides)}
            for model, price in SHIPPED.items()]


def shipped_entry(model: str) -> str | None:
    """The built-in entry an admin price for this model name replaces (None: a model the table lacks)."""
    return _match_key(model, SHIPPED)


def unpriced_models() -> list[dict]:
    """Models that were charged at the fallback price and still have no price: [{model, requests, last_seen}]."""
    from billing.models import UsageLog

    return [row for row in UsageLog.objects.priced_by_fallback() if lookup(row["model"])[1]]
