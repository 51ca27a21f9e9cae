"""Failover between OpenAI accounts (reference §2.12 with OpenAI's signals): an upstream error before any
byte reached the client marks the account as the rules say and moves the request to the next one."""

from datetime import timedelta

import httpx
import openai
import pytest
from django.utils import timezone

from accounts.models import Account
from tests.fakes.openai import Reply, chat_chunks, error, response_events
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
MINI = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
FIRST, SECOND = "Bearer sk-ant-upstream-0", "Bearer sk-ant-upstream-1"
LIMITED = error("rate_limit_exceeded", "Rate limit reached for requests", "requests")



def keys(fake):
    return [r.headers["authorization"] for r in fake.requests]


def slots_free(setup):
    names = [f"user:{setup.user.pk}"] + [f"account:{a.pk}" for a in setup.accounts]
    return wait_until(lambda: all(slot_count(n) == 0 for n in names))


@pytest.mark.parametrize(("status", "headers", "limited_for"), [
    (429, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
           "x-ratelimit-remaining-tokens": "9000", "x-ratelimit-reset-tokens": "1s"}, timedelta(minutes=6)),
    (429, {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m30.5s",
           "x-ratelimit-reset-requests": "20ms"}, timedelta(seconds=90.5)),
    (429, {"retry-after": "120"}, timedelta(minutes=2)),
    (429, {}, timedelta(minutes=5)),
])
def test_a_429_marks_the_account_until_openais_reset_and_fails_over(openai_fake, gateway_url, status, headers,
                                                                   limited_for, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2)
    openai_fake.reply(Reply(status=status, body=LIMITED, headers=headers))
    before = timezone.now()
    reply = openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES)
    assert reply.choices[0].message.content == "Hello from the OpenAI fake"
    assert keys(openai_fake) == [FIRST, SECOND]
    first = Account.objects.get(pk=setup.accounts[0].pk)
    assert before + limited_for <= first.rate_limit_reset_at <= timezone.now() + limited_for
    assert first.unschedulable_reason() == "rate limited"
    assert slots_free(setup)


@pytest.mark.parametrize(("status", "marked"), [(401, "Authentication failed (401)"), (402, "Payment required"),
                                                (403, "Access forbidden (403)"), (500, None), (502, None),
                                                (503, None)])
def test_account_errors_and_server_errors_fail_over(openai_fake, gateway_url, status, marked, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2)
    openai_fake.reply(Reply(status=status, body=error("some_error", "upstream says no", "server_error")))
    assert openai_sdk(setup).responses.create(model=MINI, input="hi").output_text
    assert keys(openai_fake) == [FIRST, SECOND]
    first = Account.objects.get(pk=setup.accounts[0].pk)
    if marked:
        assert first.status == Account.Status.ERROR and first.error_message.startswith(marked)
    else:
        assert first.status == Account.Status.ACTIVE and first.unschedulable_reason() is None


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_streams_fail_over_before_the_first_byte(openai_fake, gateway_url, endpoint, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2)
    events = chat_chunks(model=MINI, texts=("o", "k")) if endpoint == "chat" else response_events(texts=("o", "k"))
    openai_fake.reply(Reply(status=500, body=error("server_error", "boom")), Reply(events=events))
    client = openai_sdk(setup)
    if endpoint == "chat":
        chunks = client.chat.completions.create(model=MINI, messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = "".join(e.delta for e in client.responses.create(model=MINI, input="x", stream=True)
                       if e.type == "response.output_text.delta")
    assert text == "ok" and keys(openai_fake) == [FIRST, SECOND]
    assert slots_free(setup)


def test_pool_mode_retries_in_place_and_never_marks(openai_fake, gateway_url, settings, openai_sdk):
    settings.POOL_MODE_RETRY_DELAY = 0.01
    setup = make_setup(openai_fake.url, platform="openai", accounts=2,
                       account_fields={"pool_mode": True, "pool_mode_retry_count": 3})
    limited = Reply(status=429, body=LIMITED, headers={"x-ratelimit-remaining-requests": "0",
                                                       "x-ratelimit-reset-requests": "6m0s"})
    openai_fake.reply(limited, limited, limited)
    assert openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES).choices
    assert keys(openai_fake) == [FIRST] * 4
    first = Account.objects.get(pk=setup.accounts[0].pk)
    assert first.rate_limit_reset_at is None and first.unschedulable_reason() is None


def test_pool_mode_switches_after_its_retries(openai_fake, gateway_url, settings, openai_sdk):
    settings.POOL_MODE_RETRY_DELAY = 0.01
    setup = make_setup(openai_fake.url, platform="openai", accounts=2,
                       account_fields={"pool_mode": True, "pool_mode_retry_count": 1})
    openai_fake.reply(*[Reply(status=401, body=error("invalid_api_key", "bad key"))] * 2)
    assert openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES).choices
    assert keys(openai_fake) == [FIRST, FIRST, SECOND]
    first = Account.objects.get(pk=setup.accounts[0].pk)
    assert first.status == Account.Status.ACTIVE and first.unschedulable_reason() == "temporarily unschedulable"


def test_every_account_limited_ends_in_an_openai_rate_limit_error(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2)
    openai_fake.reply(*[Reply(status=429, body=LIMITED, headers={"retry-after": "60"})] * 2)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES)
    assert caught.value.body["type"] == "rate_limit_error"
    assert keys(openai_fake) == [FIRST, SECOND]
    # Both are limited now: nothing is sent until a reset passes.
    response = httpx.post(gateway_url + "/v1/chat/completions", json={"model": MINI, "messages": MESSAGES},
                          headers={"authorization": f"Bearer {setup.raw_key}"})
    assert response.status_code == 503 and len(openai_fake.requests) == 2
    assert slots_free(setup)


def test_a_missing_upstream_key_fails_over_before_anything_is_sent(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2)
    Account.objects.filter(pk=setup.accounts[0].pk).update(api_key="")
    assert openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES).choices
    assert keys(openai_fake) == [SECOND]
    first = Account.objects.get(pk=setup.accounts[0].pk)
    assert first.status == Account.Status.ERROR and "api_key is required" in first.error_message


def test_a_pool_that_cannot_pay_moves_the_request_on_unmarked(openai_fake, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2, account_fields={"pool_mode": True})
    openai_fake.reply(Reply(status=402, body=error("insufficient_quota", "pool out of credit")))
    assert openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES).choices
    assert keys(openai_fake) == [FIRST, SECOND]
    assert Account.objects.get(pk=setup.accounts[0].pk).status == Account.Status.ACTIVE
