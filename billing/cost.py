"""THE cost formula (spec §2.14 step 3, S5 pricing).

Prices are per million tokens (the long-context rates when the prompt is above the price's threshold,
Gemini); every part is rounded to the nano-dollar once, the total is the sum of
the rounded parts, and what the user pays is the total times the rate multiplier (<= 0 counts as 1).
An OpenAI service tier then scales every token price (priority x2, flex x0.5).
"""

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from billing.prices import Price
from core.money import QUANTUM

MILLION = Decimal(1_000_000)


@dataclass
class Usage:
    """Token counts of one request as the upstream reported them (after any cache-TTL override)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    service_tier: str = ""  # OpenAI's processing tier of the answer ("default", "priority", "flex", ...)

    @property
    def known(self) -> bool:
        return any((self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_creation_tokens))


@dataclass(frozen=True)
class Cost:
    input_cost: Decimal
    output_cost: Decimal
    cache_read_cost: Decimal
    cache_creation_cost: Decimal
    total_cost: Decimal
    actual_cost: Decimal
    rate_multiplier: Decimal


def effective_multiplier(multiplier) -> Decimal:
    multiplier = Decimal(multiplier if multiplier is not None else 1)
    return multiplier if multiplier > 0 else Decimal(1)


def _money(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def _tokens(count: int, per_million: Decimal) -> Decimal:
    return _money(Decimal(count) * per_million / MILLION)


def cache_creation_cost(usage: Usage, price: Price) -> Decimal:
    split = usage.cache_creation_5m_tokens + usage.cache_creation_1h_tokens
    if price.has_ttl_breakdown and split > 0:
        return _tokens(usage.cache_creation_5m_tokens, price.cache_write_5m) + _tokens(
            usage.cache_creation_1h_tokens, price.cache_write_1h
        )
    return _tokens(usage.cache_creation_tokens, price.cache_write_5m)


# OpenAI bills the priority tier at twice the standard token prices and the flex tier at half (spec §2.14).
SERVICE_TIER_MULTIPLIERS = {"priority": Decimal(2), "flex": Decimal("0.5")}
TOKEN_RATES = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


def for_tier(price: Price, service_tier: str) -> Price:
    """The token prices of a service tier (a tier without a multiplier costs the standard price)."""
    factor = SERVICE_TIER_MULTIPLIERS.get(service_tier)
    if factor is None:
        return price
    return replace(price, **{name: getattr(price, name) * factor for name in TOKEN_RATES})


def compute(usage: Usage, price: Price, multiplier=1) -> Cost:
    multiplier = effective_multiplier(multiplier)
    price = price.for_prompt(usage.input_tokens + usage.cache_read_tokens + usage.cache_creation_tokens)
    price = for_tier(price, usage.service_tier)
    parts = (
        _tokens(usage.input_tokens, price.input),
        _tokens(usage.output_tokens, price.output),
        _tokens(usage.cache_read_tokens, price.cache_read),
        cache_creation_cost(usage, price),
    )
    total = sum(parts, Decimal(0))
    return Cost(*parts, total_cost=total, actual_cost=_money(total * multiplier), rate_multiplier=multiplier)
