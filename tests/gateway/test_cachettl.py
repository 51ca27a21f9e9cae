"""Cache-TTL override rules (gateway/cachettl.py, spec S5) on plain data; which accounts have one is their
upstream adapter's to say."""

from types import SimpleNamespace

import pytest

from billing.cost import Usage
from gateway import cachettl
from gateway.upstreams import for_account


def account(type_="oauth", override="1h", platform="anthropic"):
    return SimpleNamespace(type=type_, cache_ttl_override=override, platform=platform, bedrock_auth_mode="sigv4",
                           is_oauth=type_ in ("oauth", "setup-token"))


@pytest.mark.parametrize(("type_", "override", "expected"), [
    ("oauth", "1h", "1h"), ("setup-token", "5m", "5m"), ("oauth", "", None),
    ("apikey", "1h", None),  # S5 acceptance 7
    ("bedrock", "5m", None),
    ("oauth", "2h", "5m"),  # S5 acceptance 8: unknown target behaves as 5m
])
def test_target_for(type_, override, expected):
    acct = account(type_, override)
    upstream = for_account(acct)
    assert (upstream.cache_ttl_target(acct) if upstream else None) == expected


def test_other_platform_never_overrides():
    acct = account(platform="openai")
    upstream = for_account(acct)
    assert upstream is None or upstream.cache_ttl_target(acct) is None


def test_nested_split_moves_into_target_s5_1():
    nested = {"ephemeral_5m_input_tokens": 1200, "ephemeral_1h_input_tokens": 300}
    assert cachettl.rewrite_nested(nested, "1h")
    assert nested == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1500}


def test_nested_split_already_in_target_is_unchanged():
    nested = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1500}
    assert not cachettl.rewrite_nested(nested, "1h")


def test_nested_zero_or_absent_is_unchanged_s5_5_and_6():
    assert not cachettl.rewrite_nested(None, "1h")
    zero = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    assert not cachettl.rewrite_nested(zero, "1h")
    assert zero == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}


def test_numeric_strings_are_accepted():
    nested = {"ephemeral_5m_input_tokens": "7", "ephemeral_1h_input_tokens": 3}
    assert cachettl.rewrite_nested(nested, "5m")
    assert nested == {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 0}


def test_json_body_target_5m_rewrites_split_s5_2():
    body = {"cache_creation_input_tokens": 800,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 800}}
    usage = Usage(cache_creation_tokens=800, cache_creation_1h_tokens=800)
    assert cachettl.rewrite_json_usage(body, usage, "5m")
    assert body["cache_creation"] == {"ephemeral_5m_input_tokens": 800, "ephemeral_1h_input_tokens": 0}
    assert (usage.cache_creation_5m_tokens, usage.cache_creation_1h_tokens) == (800, 0)
    assert body["cache_creation_input_tokens"] == 800


def test_json_body_aggregate_only_target_1h_gains_nested_s5_3():
    body = {"cache_creation_input_tokens": 500}
    usage = Usage(cache_creation_tokens=500)
    assert cachettl.rewrite_json_usage(body, usage, "1h")
    assert body["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 500}
    assert usage.cache_creation_1h_tokens == 500


def test_json_body_aggregate_only_target_5m_is_unchanged_but_billed_5m_s5_4():
    body = {"cache_creation_input_tokens": 500}
    usage = Usage(cache_creation_tokens=500)
    assert not cachettl.rewrite_json_usage(body, usage, "5m")
    assert body == {"cache_creation_input_tokens": 500}
    assert cachettl.apply_to_usage(usage, "5m")
    assert usage.cache_creation_5m_tokens == 500


def test_flag_false_without_creation_tokens_s5_6():
    assert not cachettl.apply_to_usage(Usage(input_tokens=10), "1h")


def test_flag_false_without_override():
    usage = Usage(cache_creation_tokens=10, cache_creation_5m_tokens=10)
    assert not cachettl.apply_to_usage(usage, None)
    assert usage.cache_creation_5m_tokens == 10
