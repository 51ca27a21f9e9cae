"""The OpenAI API-key upstream (gateway/upstreams/openai.py): URLs, headers, when a 429 ends."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Account
from gateway import upstreams
from gateway.dialects import OPENAI_CHAT, OPENAI_RESPONSES, Inbound
from gateway.upstreams.openai import OpenAIApiKey, api_root, openai_reset, parse_duration

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def account(**fields):
    return Account(**{"platform": "openai", "type": "apikey", "api_key": "sk-upstream", **fields})


def inbound(dialect=OPENAI_CHAT, action="chat", stream=False, headers=None, **params):
    return Inbound(dialect=dialect, action=action, endpoint="/v1/x", body=b"{}", data={}, model="gpt-5",
                   stream=stream, headers=headers or {}, params=params)


@pytest.mark.parametrize(("base", "root"), [
    ("https://api.openai.com", "https://api.openai.com/v1"),
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("https://api.openai.com/v1/", "https://api.openai.com/v1"),
    ("https://relay.example.com/openai/v1/chat/completions", "https://relay.example.com/openai/v1"),
    ("https://relay.example.com/v1/responses", "https://relay.example.com/v1"),
    ("https://open.bigmodel.cn/api/paas/v4", "https://open.bigmodel.cn/api/paas/v4"),
    ("http://127.0.0.1:8000/compat", "http://127.0.0.1:8000/compat/v1"),
])
def test_api_root(base, root):
    assert api_root(base) == root


def test_urls_and_the_default_base(settings):
    adapter = OpenAIApiKey()
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    assert adapter.url(account(), inbound()) == "https://api.openai.com/v1/chat/completions"
    responses = inbound(OPENAI_RESPONSES, "responses", subpath="")
    assert adapter.url(account(base_url="https://r.example/"), responses) == "https://r.example/v1/responses"
    compact = inbound(OPENAI_RESPONSES, "responses", subpath="compact")
    assert adapter.url(account(), compact) == "https://api.openai.com/v1/responses/compact"


def test_headers_are_built_from_what_the_dialect_kept():
    call = OpenAIApiKey().request(inbound(stream=True, headers={"user-agent": "OpenAI/Python 2.1.0"}), account(),
                                  "gpt-5", b"{}")
    assert call.headers == {"user-agent": "OpenAI/Python 2.1.0", "content-type": "application/json",
                            "accept": "text/event-stream", "accept-encoding": "identity",
                            "authorization": "Bearer sk-upstream"}


def test_an_account_without_key_is_misconfigured():
    with pytest.raises(upstreams.UpstreamMisconfigured):
        OpenAIApiKey().request(inbound(), account(api_key=""), "gpt-5", b"{}")


def test_openai_accounts_get_this_adapter_and_serve_both_endpoints():
    adapter = upstreams.for_account(account())
    assert isinstance(adapter, OpenAIApiKey) and adapter.serves("chat") and adapter.serves("responses")
    assert not adapter.serves("messages")
    assert upstreams.for_account(account(type="oauth")) is None  # ChatGPT OAuth accounts: not built
    assert upstreams.for_account(account(platform="anthropic")).platform == "anthropic"


@pytest.mark.parametrize(("value", "seconds"), [
    ("6m0s", 360), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m3s", 3723), ("0s", 0), ("17", 17), ("2.5", 2.5),
    ("", None), (None, None), ("soon", None), ("5x", None), ("6m0sx", None), ("-3s", None), ("9999999h", None),
])
def test_parse_duration(value, seconds):
    parsed = parse_duration(value)
    assert (parsed.total_seconds() if parsed is not None else None) == seconds


@pytest.mark.parametrize(("headers", "after"), [
    ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
      "x-ratelimit-remaining-tokens": "100", "x-ratelimit-reset-tokens": "2s"}, timedelta(minutes=6)),
    ({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "6m0s",
      "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2s"}, timedelta(seconds=2)),
    ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m"}, timedelta(minutes=1)),
    ({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "3s"}, timedelta(seconds=3)),
    ({"X-RateLimit-Reset-Tokens": "4s"}, timedelta(seconds=4)),
    ({"retry-after-ms": "1500", "retry-after": "9"}, timedelta(seconds=1.5)),
    ({"retry-after": "9"}, timedelta(seconds=9)),
    ({"x-ratelimit-reset-requests": "garbage", "retry-after": "9"}, timedelta(seconds=9)),
    ({}, None),
])
def test_when_a_429_ends(headers, after):
    assert openai_reset(headers, NOW) == (NOW + after if after is not None else None)


def test_a_429_that_names_nothing_is_a_short_limit():
    assert OpenAIApiKey().rate_limit_reset({}, b"", NOW) == NOW + timedelta(minutes=5)
