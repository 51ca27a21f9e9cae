"""The cost formula (billing/cost.py)."""

from decimal import Decimal

import pytest

from billing.cost import Usage, compute
from billing.prices import SHIPPED, Price

SONNET = SHIPPED["claude-sonnet-4-5"]


def test_parts_and_total_per_million_tokens():
    cost = compute(Usage(input_tokens=1_000_000, output_tokens=200_000, cache_read_tokens=500_000), SONNET)
    assert cost.input_cost == Decimal("3")
    assert cost.output_cost == Decimal("3")
    assert cost.cache_read_cost == Decimal("0.15")
    assert cost.total_cost == Decimal("6.15")
    assert cost.actual_cost == Decimal("6.15")


def test_single_token_is_exact_to_the_nano_dollar():
    cost = compute(Usage(input_tokens=1, output_tokens=1), SONNET)
    assert cost.total_cost == Decimal("0.000018")


def test_cache_write_1h_costs_more_than_5m_s5_pricing_example():
    """S5 acceptance 9: 1,000,000 creation tokens, 5m $3.75, 1h $6."""
    one_hour = Usage(cache_creation_tokens=1_000_000, cache_creation_1h_tokens=1_000_000)
    five_min = Usage(cache_creation_tokens=1_000_000, cache_creation_5m_tokens=1_000_000)
    assert compute(one_hour, SONNET).cache_creation_cost == Decimal("6")
    assert compute(five_min, SONNET).cache_creation_cost == Decimal("3.75")


def test_mixed_split_bills_each_tier():
    usage = Usage(cache_creation_tokens=300_000, cache_creation_5m_tokens=100_000, cache_creation_1h_tokens=200_000)
    assert compute(usage, SONNET).cache_creation_cost == Decimal("0.375") + Decimal("1.2")


def test_aggregate_only_is_billed_at_5m_price():
    assert compute(Usage(cache_creation_tokens=1_000_000), SONNET).cache_creation_cost == Decimal("3.75")


def test_model_without_breakdown_bills_aggregate_at_single_price():
    flat = Price(Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75"), Decimal("3.75"))
    usage = Usage(cache_creation_tokens=1_000_000, cache_creation_1h_tokens=1_000_000)
    assert compute(usage, flat).cache_creation_cost == Decimal("3.75")


def test_multiplier_scales_actual_cost_only():
    cost = compute(Usage(input_tokens=1_000_000), SONNET, Decimal("2.0"))
    assert cost.total_cost == Decimal("3") and cost.actual_cost == Decimal("6")
    assert cost.rate_multiplier == Decimal(2)


def test_zero_or_negative_multiplier_counts_as_one():
    for multiplier in (Decimal(0), Decimal(-1), None):
        cost = compute(Usage(input_tokens=1_000_000), SONNET, multiplier)
        assert cost.actual_cost == Decimal("3")


# --- Gemini's long-context tier ---------------------------------------------------------------------------
GEMINI_PRO = SHIPPED["gemini-2-5-pro"]


def test_a_prompt_above_200k_tokens_pays_the_long_context_rates_for_every_token():
    at_limit = compute(Usage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=1_000), GEMINI_PRO)
    assert at_limit.total_cost == Decimal("0.1875") + Decimal("0.00625") + Decimal("0.01")
    above = compute(Usage(input_tokens=150_001, cache_read_tokens=50_000, output_tokens=1_000), GEMINI_PRO)
    assert (above.input_cost, above.cache_read_cost, above.output_cost) == (
        Decimal("0.3750025"), Decimal("0.0125"), Decimal("0.015"))


def test_a_model_without_the_tier_and_the_multiplier_are_unchanged():
    flash = SHIPPED["gemini-2-5-flash"]
    cost = compute(Usage(input_tokens=1_000_000), flash, multiplier=2)
    assert (cost.total_cost, cost.actual_cost) == (Decimal("0.3"), Decimal("0.6"))
    assert compute(Usage(input_tokens=300_000), SONNET).input_cost == Decimal("0.9")  # Claude has no such tier


# --- OpenAI service tiers -------------------------------------------------------------------------------
GPT5 = SHIPPED["gpt-5"]  # $1.25 input, $0.125 cached input, $10 output


@pytest.mark.parametrize(("tier", "total"), [
    ("", "2.375"), ("default", "2.375"), ("auto", "2.375"), ("scale", "2.375"),
    ("priority", "4.75"), ("flex", "1.1875"),
])
def test_service_tier_scales_every_token_price(tier, total):
    usage = Usage(input_tokens=1_000_000, cache_read_tokens=1_000_000, output_tokens=100_000, service_tier=tier)
    cost = compute(usage, GPT5, multiplier=2)
    assert cost.total_cost == Decimal(total)
    assert cost.actual_cost == Decimal(total) * 2  # the group's multiplier comes on top


def test_a_tier_never_changes_the_price_table():
    compute(Usage(input_tokens=1, service_tier="priority"), GPT5)
    assert GPT5.input == Decimal("1.25")
