"""Failover end to end: the official SDK against the live gateway, two or more accounts on the fake
Anthropic API. An upstream error before any byte reached the client moves the request to another
account (and marks the failed one as the rules say); once streaming began, it never does."""

import time
from datetime import timedelta

import anthropic
import httpx
import pytest
from django.utils import timezone

from accounts.models import Account
from tests.fakes.anthropic import Reply, error, stream_events
from tests.fakes.oauth import FakeOAuth
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
FIRST, SECOND = "sk-ant-upstream-0", "sk-ant-upstream-1"


def sdk(setup, url):
    return anthropic.Anthropic(api_key=setup.raw_key, base_url=url, max_retries=0)


def upstream_keys(fake):
    return [r.headers.get("x-api-key") or r.headers.get("authorization") for r in fake.requests]


def in_an_hour():
    return str(int(time.time()) + 3600)


def slots_free(setup):
    keys = [f"user:{setup.user.pk}"] + [f"account:{a.pk}" for a in setup.accounts]
    return wait_until(lambda: all(slot_count(k) == 0 for k in keys))


@pytest.mark.parametrize(("status", "headers", "state"), [
    (401, {}, "error"),
    (403, {}, "error"),
    (429, {"anthropic-ratelimit-unified-reset": "RESET"}, "rate limited"),
    (429, {}, None),  # Anthropic 429 without a reset: not a real limit, not marked
    (529, {}, "overloaded"),
    (500, {}, None),
    (502, {}, None),
    (503, {}, None),
])
def test_an_upstream_error_moves_the_request_to_the_next_account(anthropic_fake, gateway_url, status, headers, state):
    setup = make_setup(anthropic_fake.url, accounts=2)
    headers = {k: in_an_hour() if v == "RESET" else v for k, v in headers.items()}
    anthropic_fake.reply(Reply(status=status, body=error("api_error", "upstream trouble"), headers=headers))
    reply = sdk(setup, gateway_url).messages.create(**BODY)
    assert reply.content[0].text == "Hello from the fake"
    assert upstream_keys(anthropic_fake) == [FIRST, SECOND]
    first = Account.objects.get(pk=setup.accounts[0].pk)
    if state == "error":
        assert first.status == Account.Status.ERROR
    else:
        assert first.unschedulable_reason() == state
    assert slots_free(setup)


def test_streaming_request_fails_over_before_the_first_byte(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=2)
    anthropic_fake.reply(Reply(status=529, body=error("overloaded_error", "busy")),
                         Reply(events=stream_events(texts=("x", "y"))))
    body = {k: v for k, v in BODY.items()}
    with sdk(setup, gateway_url).messages.stream(**body) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "xy"
    assert upstream_keys(anthropic_fake) == [FIRST, SECOND]
    assert slots_free(setup)


def test_no_switch_once_streaming_began(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=2)
    anthropic_fake.reply(Reply(events=stream_events(), close_after=3))  # the upstream breaks mid-stream
    with httpx.stream("POST", gateway_url + "/v1/messages", json={**BODY, "stream": True},
                      headers={"x-api-key": setup.raw_key}) as response:
        assert response.status_code == 200
        raw = response.read()
    assert b"event: message_start" in raw and b"event: error" in raw
    assert upstream_keys(anthropic_fake) == [FIRST]
    assert Account.objects.get(pk=setup.accounts[0].pk).unschedulable_reason() is None
    assert slots_free(setup)


def test_an_error_event_inside_a_stream_is_relayed_not_failed_over(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=2)
    events = stream_events()[:2] + [("error", error("overloaded_error", "Overloaded"))]
    anthropic_fake.reply(Reply(events=events))
    with httpx.stream("POST", gateway_url + "/v1/messages", json={**BODY, "stream": True},
                      headers={"x-api-key": setup.raw_key}) as response:
        raw = response.read()
    assert b"Overloaded" in raw
    assert upstream_keys(anthropic_fake) == [FIRST]
    assert slots_free(setup)


@pytest.mark.parametrize("status", [400, 404, 413])
def test_client_errors_are_not_failed_over(anthropic_fake, gateway_url, status):
    setup = make_setup(anthropic_fake.url, accounts=2)
    anthropic_fake.reply(Reply(status=status, body=error("invalid_request_error", "bad field")))
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk(setup, gateway_url).messages.create(**BODY)
    assert raised.value.status_code == status
    assert upstream_keys(anthropic_fake) == [FIRST]
    assert Account.objects.get(pk=setup.accounts[0].pk).unschedulable_reason() is None
    assert slots_free(setup)


def test_every_account_failing_ends_in_an_error_and_then_no_account(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=2)
    anthropic_fake.reply(*[Reply(status=529, body=error("overloaded_error", "busy"))] * 2)
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk(setup, gateway_url).messages.create(**BODY)
    assert raised.value.status_code >= 500
    assert upstream_keys(anthropic_fake) == [FIRST, SECOND]
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk(setup, gateway_url).messages.create(**BODY)
    assert raised.value.status_code == 503  # both overloaded: nothing left to choose
    assert len(anthropic_fake.requests) == 2
    assert slots_free(setup)


def test_pool_mode_retries_the_same_account_and_leaves_it_unmarked(anthropic_fake, gateway_url, settings):
    """S3 acceptance 5: 429 three times then 200 → 200 from the same account, state unchanged."""
    settings.POOL_MODE_RETRY_DELAY = 0.01
    setup = make_setup(anthropic_fake.url, accounts=2, account_fields={"pool_mode": True, "pool_mode_retry_count": 3})
    limited = Reply(status=429, body=error("rate_limit_error", "pool busy"),
                    headers={"anthropic-ratelimit-unified-reset": in_an_hour()})
    anthropic_fake.reply(limited, limited, limited)
    reply = sdk(setup, gateway_url).messages.create(**BODY)
    assert reply.type == "message"
    assert upstream_keys(anthropic_fake) == [FIRST] * 4
    first = Account.objects.get(pk=setup.accounts[0].pk)
    assert first.status == Account.Status.ACTIVE and first.unschedulable_reason() is None
    assert first.rate_limit_reset_at is None
    assert slots_free(setup)


def test_pool_mode_switches_after_its_retries(anthropic_fake, gateway_url, settings):
    settings.POOL_MODE_RETRY_DELAY = 0.01
    setup = make_setup(anthropic_fake.url, accounts=2, account_fields={"pool_mode": True, "pool_mode_retry_count": 2})
    anthropic_fake.reply(*[Reply(status=403, body=error("permission_error", "no"))] * 3)
    assert sdk(setup, gateway_url).messages.create(**BODY).type == "message"
    assert upstream_keys(anthropic_fake) == [FIRST] * 3 + [SECOND]
    first = Account.objects.get(pk=setup.accounts[0].pk)
    assert first.status == Account.Status.ACTIVE  # paused for a moment, never put in error
    assert first.unschedulable_reason() == "temporarily unschedulable"


def test_without_pool_mode_a_429_marks_and_moves_on(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=2)
    anthropic_fake.reply(Reply(status=429, body=error("rate_limit_error", "slow down"),
                               headers={"anthropic-ratelimit-unified-reset": in_an_hour()}))
    sdk(setup, gateway_url).messages.create(**BODY)
    assert upstream_keys(anthropic_fake) == [FIRST, SECOND]
    assert Account.objects.get(pk=setup.accounts[0].pk).unschedulable_reason() == "rate limited"
    # Later requests go straight to the second account.
    sdk(setup, gateway_url).messages.create(**BODY)
    assert upstream_keys(anthropic_fake)[-1] == SECOND


def test_a_rate_limited_account_comes_back_after_its_reset(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=2, account_fields={"priority": 1})
    Account.objects.filter(pk=setup.accounts[1].pk).update(priority=2)
    Account.objects.get(pk=setup.accounts[0].pk).mark_rate_limited(timezone.now() + timedelta(seconds=1))
    client = sdk(setup, gateway_url)
    client.messages.create(**BODY)
    assert upstream_keys(anthropic_fake) == [SECOND]
    time.sleep(1.2)
    # Another conversation (the first one is now bound to the second account).
    client.messages.create(**{**BODY, "messages": [{"role": "user", "content": "something else"}]})
    assert upstream_keys(anthropic_fake) == [SECOND, FIRST]


def test_oauth_401_switches_and_refreshes_the_token(anthropic_fake, gateway_url, settings):
    oauth = FakeOAuth().start()
    try:
        settings.CLAUDE_OAUTH_TOKEN_URL = oauth.url
        setup = make_setup(anthropic_fake.url, accounts=2, account_type="oauth", account_fields={
            "refresh_token": "refresh-me", "token_expires_at": timezone.now() + timedelta(hours=4),
        })
        anthropic_fake.reply(Reply(status=401, body=error("authentication_error", "token expired")))
        assert sdk(setup, gateway_url).messages.create(**BODY).type == "message"
        assert upstream_keys(anthropic_fake) == ["Bearer oauth-access-0", "Bearer oauth-access-1"]
        refreshed = wait_until(
            lambda: Account.objects.get(pk=setup.accounts[0].pk).access_token.startswith("sk-ant-oat01-new-")
        )
        assert refreshed and oauth.requests == [{
            "grant_type": "refresh_token", "refresh_token": "refresh-me", "client_id": settings.CLAUDE_OAUTH_CLIENT_ID,
        }]
        assert Account.objects.get(pk=setup.accounts[0].pk).unschedulable_reason() is None
    finally:
        oauth.stop()


def test_a_conversation_sticks_to_its_account(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=3)
    client = sdk(setup, gateway_url)
    metadata = {"user_id": "user_" + "a" * 64 + "_account__session_11111111-2222-3333-4444-555555555555"}
    for _ in range(4):
        client.messages.create(**BODY, metadata=metadata)
    assert len(set(upstream_keys(anthropic_fake))) == 1
    other = {"user_id": "user_" + "a" * 64 + "_account__session_99999999-2222-3333-4444-555555555555"}
    client.messages.create(**BODY, metadata=other)
    assert upstream_keys(anthropic_fake)[-1] != upstream_keys(anthropic_fake)[0]


def test_an_expiring_oauth_token_is_refreshed_before_the_request(anthropic_fake, gateway_url, settings):
    oauth = FakeOAuth().start()
    try:
        settings.CLAUDE_OAUTH_TOKEN_URL = oauth.url
        setup = make_setup(anthropic_fake.url, account_type="oauth", account_fields={
            "refresh_token": "refresh-me", "token_expires_at": timezone.now() + timedelta(seconds=60),
        })
        assert sdk(setup, gateway_url).messages.create(**BODY).type == "message"
        assert upstream_keys(anthropic_fake) == ["Bearer sk-ant-oat01-new-1"]
        assert len(oauth.requests) == 1
    finally:
        oauth.stop()
