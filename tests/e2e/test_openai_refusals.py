"""Every refusal of the gateway on the OpenAI routes, through the openai SDK: the key-auth outcomes of S7
(reference §2.2) with their statuses and codes, no account, concurrency, in OpenAI's error shape; the
SSE ping of a stream that waits is OpenAI's comment line."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.openai import Reply, chat_chunks, chat_usage, completion
from tests.live import make_setup, slot_count, wait_until
from users.models import Subscription

pytestmark = pytest.mark.django_db(transaction=True)
MINI = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def setup(openai_fake):
    return make_setup(openai_fake.url, platform="openai")


def refused(key, gateway_url, endpoint="chat", **client_options) -> openai.APIStatusError:
    client = openai.OpenAI(api_key=key, base_url=gateway_url + "/v1", max_retries=0, **client_options)
    with pytest.raises(openai.APIStatusError) as caught:
        if endpoint == "chat":
            client.chat.completions.create(model=MINI, messages=MESSAGES)
        else:
            client.responses.create(model=MINI, input="hi")
    return caught.value


def assert_refusal(error, status, code, error_type=None):
    assert error.status_code == status
    body = error.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    if error_type:
        assert body["error"]["type"] == error_type
    return body["error"]


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_missing_and_unknown_keys(gateway_url, endpoint):
    response = httpx.post(gateway_url + "/v1/chat/completions", json={"model": MINI, "messages": MESSAGES})
    assert response.status_code == 401 and response.json()["error"]["code"] == "API_KEY_REQUIRED"
    error = refused("sk-nope", gateway_url, endpoint)
    assert error.response.headers["x-should-retry"] == "false"  # the SDK gives up at once
    assert assert_refusal(error, 401, "INVALID_API_KEY", "authentication_error")["message"] == "Invalid API key"
    assert isinstance(refused("sk-nope", gateway_url, endpoint), openai.AuthenticationError)


def test_a_key_in_the_query_is_refused(setup, gateway_url):
    response = httpx.post(gateway_url + "/v1/chat/completions", params={"key": setup.raw_key},
                          json={"model": MINI, "messages": MESSAGES},
                          headers={"authorization": f"Bearer {setup.raw_key}"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "api_key_in_query_deprecated"


def test_disabled_key_and_inactive_user_s7_4(setup, gateway_url):
    setup.key.status = ApiKey.Status.INACTIVE
    setup.key.save()
    assert_refusal(refused(setup.raw_key, gateway_url), 401, "API_KEY_DISABLED")
    setup.key.status = ApiKey.Status.ACTIVE
    setup.key.save()
    setup.user.status = "disabled"
    setup.user.save()
    assert_refusal(refused(setup.raw_key, gateway_url), 401, "USER_INACTIVE")


def test_ip_rules(setup, gateway_url):
    setup.key.ip_blacklist = ["127.0.0.1"]
    setup.key.save()
    error = assert_refusal(refused(setup.raw_key, gateway_url, "responses"), 403, "ACCESS_DENIED")
    assert isinstance(refused(setup.raw_key, gateway_url), openai.PermissionDeniedError)
    assert error["message"] == "Access denied"


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_expired_key_s7_4(setup, gateway_url, endpoint):
    setup.key.expires_at = timezone.now() - timedelta(seconds=1)
    setup.key.save()
    assert_refusal(refused(setup.raw_key, gateway_url, endpoint), 403, "API_KEY_EXPIRED", "permission_error")
    setup.key.expires_at, setup.key.status = None, ApiKey.Status.EXPIRED
    setup.key.save()
    assert_refusal(refused(setup.raw_key, gateway_url, endpoint), 403, "API_KEY_EXPIRED")


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_exhausted_quota_is_openais_insufficient_quota(setup, gateway_url, endpoint):
    setup.key.quota, setup.key.quota_used = Decimal("1"), Decimal("1")
    setup.key.save()
    error = refused(setup.raw_key, gateway_url, endpoint)
    assert isinstance(error, openai.RateLimitError)
    body = assert_refusal(error, 429, "insufficient_quota", "insufficient_quota")
    assert body["message"] == "API key 额度已用完"
    setup.key.quota_used, setup.key.status = Decimal("0"), ApiKey.Status.QUOTA_EXHAUSTED
    setup.key.save()
    assert_refusal(refused(setup.raw_key, gateway_url, endpoint), 429, "insufficient_quota")


def test_the_crossing_request_is_served_then_the_key_is_exhausted_s7_2(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai",
                       key_fields={"quota": Decimal("5"), "quota_used": Decimal("4.9")})
    openai_fake.reply(Reply(body=completion(model="gpt-5", usage_=chat_usage(prompt=240_000, completion=0))))
    client = openai.OpenAI(api_key=setup.raw_key, base_url=gateway_url + "/v1", max_retries=0)
    client.chat.completions.create(model="gpt-5", messages=MESSAGES)  # 240k × $1.25/M = $0.30
    drain_sync()
    setup.refresh()
    assert setup.key.quota_used == Decimal("5.2") and setup.key.status == ApiKey.Status.QUOTA_EXHAUSTED
    assert_refusal(refused(setup.raw_key, gateway_url), 429, "insufficient_quota")
    assert len(openai_fake.requests) == 1


def test_balance_and_subscription(openai_fake, gateway_url):
    broke = make_setup(openai_fake.url, platform="openai", balance="0")
    assert_refusal(refused(broke.raw_key, gateway_url), 403, "INSUFFICIENT_BALANCE")
    setup = make_setup(openai_fake.url, platform="openai", balance="0",
                       group_fields={"subscription_type": "subscription", "daily_limit_usd": Decimal("1")})
    assert_refusal(refused(setup.raw_key, gateway_url), 403, "SUBSCRIPTION_NOT_FOUND")
    sub = Subscription.objects.create(user=setup.user, group=setup.group,
                                      expires_at=timezone.now() - timedelta(days=1))
    assert_refusal(refused(setup.raw_key, gateway_url, "responses"), 403, "SUBSCRIPTION_INVALID")
    sub.expires_at, sub.daily_usage, sub.daily_window_start = timezone.now() + timedelta(days=1), 1, timezone.now()
    sub.save()
    assert_refusal(refused(setup.raw_key, gateway_url), 429, "USAGE_LIMIT_EXCEEDED")


def test_a_key_without_group(setup, gateway_url):
    setup.key.group = None
    setup.key.save()
    assert_refusal(refused(setup.raw_key, gateway_url), 403, "GROUP_NOT_ASSIGNED", "permission_error")


def test_no_account_for_the_model(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai", account_fields={"allowed_models": ["gpt-5"]})
    error = refused(setup.raw_key, gateway_url)
    assert error.status_code == 503 and error.response.json()["error"]["type"] == "api_error"
    assert "No available accounts" in error.response.json()["error"]["message"]
    assert openai_fake.requests == []


def test_an_openai_account_never_serves_an_anthropic_group(anthropic_fake, openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai")
    setup.group.platform = "anthropic"
    setup.group.save()
    response = httpx.post(gateway_url + "/v1/messages", headers={"x-api-key": setup.raw_key},
                          json={"model": MINI, "max_tokens": 5, "messages": MESSAGES})
    assert response.status_code == 503 and openai_fake.requests == []


def test_user_concurrency_is_a_rate_limit_error(openai_fake, gateway_url, settings):
    settings.CONCURRENCY_WAIT_TIMEOUT = 0.3
    setup = make_setup(openai_fake.url, platform="openai", user_fields={"concurrency": 1})
    openai_fake.reply(Reply(body=completion(model=MINI), delay=2.0))
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(1) as pool:
        busy = pool.submit(client.post, gateway_url + "/v1/chat/completions",
                           json={"model": MINI, "messages": MESSAGES},
                           headers={"authorization": f"Bearer {setup.raw_key}"})
        assert wait_until(lambda: len(openai_fake.requests) == 1)
        error = refused(setup.raw_key, gateway_url)
        assert busy.result().status_code == 200
    assert error.status_code == 429 and error.response.json()["error"]["type"] == "rate_limit_error"


def test_a_waiting_stream_hears_openai_pings_then_its_answer(openai_fake, gateway_url, settings):
    settings.CONCURRENCY_PING_INTERVAL = 0.1
    setup = make_setup(openai_fake.url, platform="openai", user_fields={"concurrency": 1})
    events = chat_chunks(model=MINI, texts=("x",), usage_=chat_usage(prompt=3, completion=1))
    openai_fake.reply(Reply(events=events, hold_after=1), Reply(events=events))
    headers = {"authorization": f"Bearer {setup.raw_key}"}
    body = {"model": MINI, "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", gateway_url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as first:
        first_chunks = first.iter_bytes()
        next(first_chunks)  # the first stream holds the user's only slot
        with httpx.stream("POST", gateway_url + "/v1/chat/completions", json=body, headers=headers,
                          timeout=30) as second:
            assert second.status_code == 200
            chunks = second.iter_bytes()
            head = next(chunks)
            assert head.startswith(b":\n\n")
            openai_fake.release()
            assert b"".join(first_chunks).endswith(b"data: [DONE]\n\n")
            rest = head + b"".join(chunks)
    assert rest.lstrip(b":\n").startswith(b"data: {") and rest.endswith(b"data: [DONE]\n\n")
    assert b"usage" not in rest
    drain_sync()
    assert UsageLog.objects.filter(api_key=setup.key).count() == 2
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)
