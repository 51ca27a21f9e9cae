"""Price table lookup (billing/prices.py)."""

from decimal import Decimal

import pytest

from billing.models import ModelPrice
from billing.prices import SHIPPED, lookup, normalize


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("gemini-2.5-flash", "gemini-2-5-flash"),
        ("gemini-2.5-flash-preview-09-2025", "gemini-2-5-flash"),
        ("gemini-2.5-flash-lite", "gemini-2-5-flash-lite"),
        ("gemini-2.5-pro", "gemini-2-5-pro"),
        ("gemini-3-pro-preview", "gemini-3-pro"),
        ("gemini-3.1-pro-preview", "gemini-3-1-pro"),
        ("gemini-3-flash-preview", "gemini-3-flash"),
        ("gemini-2.0-flash-001", "gemini-2-0-flash"),
        ("gpt-5.1", "gpt-5-1"),
        ("gpt-5.1-codex-mini", "gpt-5-1-codex-mini"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-5.4-mini-2026-03-17", "gpt-5-4-mini"),
        ("gpt-5-chat-latest", "gpt-5"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4-1-nano"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("o3-2025-04-16", "o3"),
        ("o4-mini", "o4-mini"),
    ],
)
def test_shipped_models_resolve(model, expected):
    price, fallback = lookup(model, overrides={})
    assert price == SHIPPED[expected]
    assert not fallback


def test_openai_cached_input_is_the_cache_read_price():
    price = SHIPPED["gpt-4-1"]
    assert (price.input, price.cache_read, price.output) == (Decimal("2"), Decimal("0.50"), Decimal("8"))
    assert not price.has_ttl_breakdown


def test_normalize_strips_prefixes_dates_and_versions():
    assert normalize("global.anthropic.claude-haiku-4-5-20251001-v1:0") == "claude-haiku-4-5"


def test_unknown_model_uses_fallback_price_and_says_so(settings):
    settings.FALLBACK_PRICE_MODEL = "claude-haiku-4-5"
    price, fallback = lookup("some-other-model", overrides={})
    assert fallback
    assert price == SHIPPED["claude-haiku-4-5"]


def test_second_name_is_tried_before_the_fallback():
    price, fallback = lookup("my-alias", "claude-opus-4-1-20250805", overrides={})
    assert price == SHIPPED["claude-opus-4-1"] and not fallback


@pytest.mark.django_db
def test_admin_price_overrides_the_shipped_one():
    ModelPrice.objects.create(model="claude-sonnet-4-5", input=Decimal("1.5"), output=Decimal("7"),
                              cache_read=Decimal("0.1"), cache_write_5m=Decimal("2"), cache_write_1h=Decimal("4"))
    price, fallback = lookup("claude-sonnet-4-5-20250929")
    assert price.input == Decimal("1.5") and price.cache_write_1h == Decimal("4")
    assert not fallback


@pytest.mark.django_db
def test_admin_price_for_an_unknown_model_is_not_a_fallback():
    ModelPrice.objects.create(model="house-model", input=Decimal("1"), output=Decimal("2"))
    price, fallback = lookup("house-model")
    assert price.output == Decimal("2") and not fallback
