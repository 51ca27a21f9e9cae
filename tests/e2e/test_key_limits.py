"""A key's own limits through the official SDKs: spend windows (429 API_KEY_RATE_*_EXCEEDED with when the
window resets), requests per minute and concurrency (429 rate_limit_error with retry-after), in the
caller's protocol (Anthropic, OpenAI, Gemini)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest
from django.utils import timezone

from apikeys import windows
from apikeys.models import ApiKey
from billing.settlement import drain_sync
from tests.fakes.anthropic import Reply, message, stream_events, usage
from tests.fakes.openai import Reply as OpenAIReply
from tests.fakes.openai import completion
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
HAIKU = "claude-haiku-4-5"  # 100 input tokens: $0.0001
MESSAGES = [{"role": "user", "content": "hi"}]


def claude(setup, gateway_url):
    return anthropic.Anthropic(api_key=setup.raw_key, base_url=gateway_url, max_retries=0)


def ask(client):
    return client.messages.create(model=HAIKU, max_tokens=5, messages=MESSAGES)


def test_a_5h_window_refuses_after_the_charge_that_used_it_up(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, key_fields={"rate_limit_5h": Decimal("0.0001")})
    anthropic_fake.reply(Reply(body=message(usage_=usage(input=100, output=0))))
    client = claude(setup, gateway_url)
    ask(client)  # served: the window was empty; its charge reaches the limit
    drain_sync()
    key = ApiKey.objects.get(pk=setup.key.pk)
    assert key.usage_5h == Decimal("0.0001")
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(client)
    error = caught.value
    assert error.body["error"]["code"] == "API_KEY_RATE_5H_EXCEEDED"
    assert error.body["error"]["type"] == "rate_limit_error"
    resets = key.window_5h_start + timedelta(hours=5)
    retry_after = int(error.response.headers["retry-after"])
    assert abs(retry_after - (resets - timezone.now()).total_seconds()) < 120
    assert error.response.headers["x-should-retry"] == "true"
    assert len(anthropic_fake.requests) == 1  # the refused request never reached the upstream


def test_an_elapsed_window_lets_the_key_through_again(anthropic_fake, gateway_url):
    old = timezone.now() - timedelta(hours=6)
    setup = make_setup(anthropic_fake.url, key_fields={
        "rate_limit_5h": Decimal("0.0001"), "usage_5h": Decimal("5"), "window_5h_start": old,
    })
    anthropic_fake.reply(Reply(body=message(usage_=usage(input=100, output=0))))
    ask(claude(setup, gateway_url))
    drain_sync()
    key = ApiKey.objects.get(pk=setup.key.pk)
    assert key.usage_5h == Decimal("0.0001") and key.window_5h_start > old


def test_the_daily_window_in_openais_shape(openai_fake, gateway_url):
    day = windows.start_for("1d", timezone.now())
    setup = make_setup(openai_fake.url, platform="openai", key_fields={
        "rate_limit_1d": Decimal("1"), "usage_1d": Decimal("1"), "window_1d_start": day,
    })
    client = openai.OpenAI(api_key=setup.raw_key, base_url=gateway_url + "/v1", max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    body = caught.value.response.json()
    assert body["error"]["code"] == "API_KEY_RATE_1D_EXCEEDED"
    retry_after = int(caught.value.response.headers["retry-after"])
    assert abs(retry_after - (day + timedelta(days=1) - timezone.now()).total_seconds()) < 120
    assert openai_fake.requests == []


def test_the_weekly_window_in_geminis_shape(gemini_fake, gateway_url):
    start = windows.start_for("7d", timezone.now())
    setup = make_setup(gemini_fake.url, platform="gemini", key_fields={
        "rate_limit_7d": Decimal("2"), "usage_7d": Decimal("3"), "window_7d_start": start,
    })
    response = httpx.post(gateway_url + "/v1beta/models/gemini-2.5-flash:generateContent",
                          headers={"x-goog-api-key": setup.raw_key},
                          json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED" and error["details"][0]["reason"] == "API_KEY_RATE_7D_EXCEEDED"
    assert int(response.headers["retry-after"]) > 6 * 86400 - 86400


def test_requests_per_minute(anthropic_fake, gateway_url, settings):
    settings.CONCURRENCY_WAIT_TIMEOUT = 1  # the next free moment is a minute away: refused at once
    setup = make_setup(anthropic_fake.url, key_fields={"rpm_limit": 2})
    anthropic_fake.reply(*[Reply(body=message(usage_=usage(input=1, output=1))) for _ in range(2)])
    client = claude(setup, gateway_url)
    ask(client)
    ask(client)
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(client)
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert "2 requests per minute" in caught.value.body["error"]["message"]
    assert 50 <= int(caught.value.response.headers["retry-after"]) <= 60
    assert len(anthropic_fake.requests) == 2
    other = make_setup(anthropic_fake.url, key_fields={"rpm_limit": 2})  # another key has its own minute
    anthropic_fake.reply(Reply(body=message(usage_=usage(input=1, output=1))))
    ask(claude(other, gateway_url))


def test_a_short_rpm_wait_queues_instead_of_refusing(anthropic_fake, gateway_url, settings):
    settings.CONCURRENCY_WAIT_TIMEOUT = 10
    settings.KEY_RPM_PERIOD = 0.5  # a half-second "minute"
    setup = make_setup(anthropic_fake.url, key_fields={"rpm_limit": 1})
    anthropic_fake.reply(*[Reply(body=message(usage_=usage(input=1, output=1))) for _ in range(2)])
    client = claude(setup, gateway_url)
    ask(client)
    ask(client)  # waited for the period to slide, then served
    assert len(anthropic_fake.requests) == 2


def test_key_concurrency_queues_then_refuses_and_gives_its_slot_back(openai_fake, gateway_url, settings):
    settings.CONCURRENCY_WAIT_TIMEOUT = 0.3
    setup = make_setup(openai_fake.url, platform="openai", key_fields={"concurrency": 1})
    openai_fake.reply(OpenAIReply(body=completion(model="gpt-4o-mini"), delay=2.0),
                      OpenAIReply(body=completion(model="gpt-4o-mini")))
    client = openai.OpenAI(api_key=setup.raw_key, base_url=gateway_url + "/v1", max_retries=0)
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
        assert wait_until(lambda: len(openai_fake.requests) == 1)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        busy.result()
    error = caught.value.response.json()["error"]
    assert error["type"] == "rate_limit_error" and "Concurrency limit exceeded for key" in error["message"]
    assert caught.value.response.headers["retry-after"]
    assert wait_until(lambda: slot_count(f"key:{setup.key.pk}") == 0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # the slot came back


def test_a_stream_waiting_for_the_keys_slot_hears_pings(anthropic_fake, gateway_url, settings):
    settings.CONCURRENCY_PING_INTERVAL = 0.1
    setup = make_setup(anthropic_fake.url, key_fields={"concurrency": 1})
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1), Reply(events=stream_events()))
    body = {"model": HAIKU, "max_tokens": 5, "stream": True, "messages": MESSAGES}
    headers = {"x-api-key": setup.raw_key}
    with httpx.stream("POST", gateway_url + "/v1/messages", json=body, headers=headers, timeout=30) as first:
        chunks = first.iter_bytes()
        next(chunks)
        with httpx.stream("POST", gateway_url + "/v1/messages", json=body, headers=headers,
                          timeout=30) as second:
            waiting = second.iter_bytes()
            head = next(waiting)
            assert b"ping" in head  # waiting for the key's only slot, kept alive
            anthropic_fake.release()
            b"".join(chunks)
            rest = b"".join(waiting)
    assert b"message_stop" in head + rest


def test_v1_usage_reports_the_windows(anthropic_fake, gateway_url):
    start = timezone.now() - timedelta(hours=2)
    setup = make_setup(anthropic_fake.url, key_fields={
        "rate_limit_5h": Decimal("2"), "usage_5h": Decimal("0.5"), "window_5h_start": start,
        "rate_limit_7d": Decimal("9"),
    })
    report = httpx.get(gateway_url + "/v1/usage", headers={"x-api-key": setup.raw_key}).json()
    five, seven = report["rate_limits"]
    assert (five["window"], five["limit"], five["used"], five["remaining"]) == ("5h", 2.0, 0.5, 1.5)
    assert five["resets_at"] == (start + timedelta(hours=5)).isoformat()
    assert (seven["window"], seven["used"], seven["resets_at"]) == ("7d", 0.0, None)
    assert report["mode"] == "quota_limited"
