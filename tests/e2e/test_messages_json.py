"""POST /v1/messages without streaming, end to end: official SDK and raw HTTP against the live gateway,
the fake Anthropic API behind it."""

import json
from decimal import Decimal

import anthropic
import httpx
import pytest

from accounts.models import Account
from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.anthropic import Reply, error, message, usage
from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def sdk(setup, url):
    return anthropic.Anthropic(api_key=setup.raw_key, base_url=url, max_retries=0)


def test_sdk_gets_the_upstream_message(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    upstream = message(model="claude-sonnet-4-5-20250929", text="exact text", usage_=usage(input=7, output=3))
    anthropic_fake.reply(Reply(body=upstream))
    reply = sdk(setup, gateway_url).messages.create(**BODY)
    assert reply.model_dump(exclude_none=True) == anthropic.types.Message(**upstream).model_dump(exclude_none=True)


def test_raw_bytes_and_request_body_pass_unchanged(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    raw_answer = json.dumps(message(), indent=3).encode()  # formatting the gateway must not touch
    anthropic_fake.reply(Reply(body=raw_answer))
    raw_request = b'{"model":"claude-sonnet-4-5",  "max_tokens":5,"messages":[{"role":"system","content":"x"}]}'
    response = httpx.post(f"{gateway_url}/v1/messages?beta=true", content=raw_request,
                          headers={"x-api-key": setup.raw_key, "content-type": "application/json"})
    assert response.status_code == 200
    assert response.content == raw_answer
    assert anthropic_fake.requests[0].body == raw_request


def test_upstream_headers_are_built_not_copied(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    httpx.post(gateway_url + "/v1/messages", json=BODY, headers={
        "Authorization": f"Bearer {setup.raw_key}", "cookie": "session=secret", "anthropic-beta": "tools-2024",
        "x-stainless-lang": "python", "x-app": "cli", "user-agent": "claude-cli/2.0.0", "x-custom": "no",
    })
    seen = anthropic_fake.requests[0]
    assert seen.path == "/v1/messages" and seen.query == {"beta": "true"}
    assert seen.headers["x-api-key"] == "sk-ant-upstream-0"
    assert "authorization" not in seen.headers and "cookie" not in seen.headers and "x-custom" not in seen.headers
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["anthropic-beta"] == "tools-2024"
    assert seen.headers["x-stainless-lang"] == "python" and seen.headers["x-app"] == "cli"
    assert seen.headers["user-agent"] == "claude-cli/2.0.0"
    assert setup.raw_key not in json.dumps(seen.headers)


def test_oauth_account_sends_bearer_and_oauth_beta(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, account_type="oauth")
    httpx.post(gateway_url + "/v1/messages", json=BODY, headers={
        "x-api-key": setup.raw_key, "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "anthropic-version": "2023-06-01",
    })
    seen = anthropic_fake.requests[0]
    assert seen.headers["authorization"] == "Bearer oauth-access-0"
    assert "x-api-key" not in seen.headers
    assert seen.headers["anthropic-beta"] == (
        "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14"
    )


def test_model_mapping_rewrites_model_and_maps_it_back(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, account_fields={"model_mapping": {"claude-sonnet-4-5": "upstream-x"}})
    anthropic_fake.reply(Reply(body=message(model="upstream-x")))
    reply = sdk(setup, gateway_url).messages.create(**BODY)
    sent = anthropic_fake.requests[0].json
    assert sent["model"] == "upstream-x"
    assert sent["messages"] == BODY["messages"] and sent["max_tokens"] == BODY["max_tokens"]
    assert reply.model == "claude-sonnet-4-5"
    drain_sync()
    log = UsageLog.objects.get()
    assert log.model == "claude-sonnet-4-5" and log.upstream_model == "upstream-x"


def test_upstream_client_error_is_relayed_with_status_and_body(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    upstream = error("invalid_request_error", "max_tokens: too large")
    anthropic_fake.reply(Reply(status=400, body=upstream))
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 400 and response.json() == upstream
    with pytest.raises(anthropic.BadRequestError):
        anthropic_fake.reply(Reply(status=400, body=upstream))
        sdk(setup, gateway_url).messages.create(**BODY)
    drain_sync()
    assert UsageLog.objects.count() == 0


def test_rate_limited_account_fails_over_to_the_next(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, accounts=2)
    Account.objects.filter(pk=setup.accounts[1].pk).update(priority=60)
    anthropic_fake.reply(
        Reply(status=429, body=error("rate_limit_error", "limited"),
              headers={"anthropic-ratelimit-unified-reset": "4102444800"}),
        Reply(body=message(text="from the second")),
    )
    reply = sdk(setup, gateway_url).messages.create(**BODY)
    assert reply.content[0].text == "from the second"
    keys = [r.headers["x-api-key"] for r in anthropic_fake.requests]
    assert keys == ["sk-ant-upstream-0", "sk-ant-upstream-1"]
    drain_sync()
    assert UsageLog.objects.get().account_id == setup.accounts[1].pk


@pytest.mark.parametrize(
    ("upstream", "status", "error_type"),
    [(529, 503, "overloaded_error"), (429, 429, "rate_limit_error"), (401, 502, "upstream_error"),
     (500, 502, "upstream_error")],
)
def test_failover_exhausted_maps_the_last_upstream_status(anthropic_fake, gateway_url, upstream, status, error_type):
    """Spec §2.12: when no account is left, an upstream 401 must not read as a verdict on the client's key."""
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(status=upstream, body=error("some_error", "upstream says no")))
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == status
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == error_type
    assert "upstream says no" not in response.text


def test_no_schedulable_account_is_a_503_in_anthropic_shape(anthropic_fake, gateway_url):
    """S4: an account at its quota is skipped; with no other account the client gets 503, not a 500."""
    setup = make_setup(anthropic_fake.url, account_fields={"quota_limit": Decimal("1"), "quota_used": Decimal("1")})
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 503
    body = response.json()
    assert body["type"] == "error" and "No available accounts" in body["error"]["message"]
    assert anthropic_fake.requests == []


def test_bad_bodies_are_400(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    headers = {"x-api-key": setup.raw_key}
    too_deep = b"[" * 100_000  # the parser gives up with RecursionError, not ValueError
    for content in (b"", b"{not json", b"[1]", b'{"max_tokens": 1}', b'{"model": "\xff"}', too_deep):
        response = httpx.post(gateway_url + "/v1/messages", content=content, headers=headers)
        assert response.status_code == 400, content[:20]
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert anthropic_fake.requests == []


def test_an_upstream_answer_the_gateway_cannot_parse_is_relayed_as_is(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    too_deep = b'{"a":' * 100_000
    anthropic_fake.reply(Reply(body=too_deep))
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 200 and response.content == too_deep


def test_a_session_id_that_is_not_json_is_ignored(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    for user_id in ('{"a":' * 100_000, "{not json", '{"session_id": 5}'):
        body = {**BODY, "metadata": {"user_id": user_id}}
        response = httpx.post(gateway_url + "/v1/messages", json=body, headers={"x-api-key": setup.raw_key})
        assert response.status_code == 200
    assert len(anthropic_fake.requests) == 3


def test_count_tokens_is_forwarded_and_never_billed(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, balance="1")
    result = sdk(setup, gateway_url).messages.count_tokens(model="claude-sonnet-4-5",
                                                           messages=[{"role": "user", "content": "hi"}])
    assert result.input_tokens == 42
    assert anthropic_fake.requests[0].path == "/v1/messages/count_tokens"
    assert anthropic_fake.requests[0].query == {"beta": "true"}
    drain_sync()
    setup.refresh()
    assert UsageLog.objects.count() == 0 and setup.user.balance == Decimal("1")


def test_models_lists_mapping_keys_or_defaults(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    models = sdk(setup, gateway_url).models.list()
    assert "claude-sonnet-4-5-20250929" in [m.id for m in models.data]
    mapped = make_setup(anthropic_fake.url, account_fields={"model_mapping": {"claude-x": "claude-y", "claude-z": ""}})
    models = sdk(mapped, gateway_url).models.list()
    assert [m.id for m in models.data] == ["claude-x", "claude-z"]


def test_probes(gateway_url):
    assert httpx.head(gateway_url + "/").status_code == 200
    assert httpx.head(gateway_url + "/api/hello").status_code == 200
    assert httpx.post(gateway_url + "/api/event_logging/batch", json={"events": []}).status_code == 200


def test_non_anthropic_group_is_not_relayed_here(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, group_fields={"platform": "openai"})
    response = httpx.post(gateway_url + "/v1/messages/count_tokens", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    assert anthropic_fake.requests == []


def test_client_giving_up_cancels_the_upstream_and_frees_slots(anthropic_fake, gateway_url):
    from tests.live import slot_count, wait_until

    setup = make_setup(anthropic_fake.url, user_fields={"concurrency": 2}, account_fields={"concurrency": 2})
    anthropic_fake.reply(Reply(body=message(), delay=1.0))
    with pytest.raises(httpx.TimeoutException):
        httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}, timeout=0.3)
    assert wait_until(lambda: anthropic_fake.requests and anthropic_fake.requests[0].disconnected)
    keys = (f"user:{setup.user.pk}", f"account:{setup.account.pk}")
    assert wait_until(lambda: all(slot_count(key) == 0 for key in keys))
    drain_sync()
    assert UsageLog.objects.count() == 0


def test_ungrouped_key_uses_ungrouped_accounts_when_allowed(anthropic_fake, gateway_url, settings):
    settings.ALLOW_UNGROUPED_KEYS = True
    setup = make_setup(anthropic_fake.url, accounts=0)
    setup.key.group = None
    setup.key.save()
    Account.objects.create(name="loose", platform="anthropic", type="apikey", base_url=anthropic_fake.url,
                           api_key="sk-ant-loose", concurrency=0)
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 200
    assert anthropic_fake.requests[0].headers["x-api-key"] == "sk-ant-loose"
    drain_sync()
    assert UsageLog.objects.get().group_id is None


def test_connection_closed_without_answer_is_retried_once_then_502(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    headers = {"x-api-key": setup.raw_key}
    anthropic_fake.reply(Reply(drop=True), Reply(body=message(text="second try")))
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers=headers)
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "second try"
    anthropic_fake.reply(Reply(drop=True), Reply(drop=True))
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers=headers)
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "Upstream request failed"
    assert len(anthropic_fake.requests) == 4


def test_account_http_proxy_carries_the_request(anthropic_fake, gateway_url):
    """The fake plays the proxy: the upstream host is unresolvable, so only the proxy can answer."""
    from urllib.parse import urlsplit

    from accounts.models import Proxy

    fake = urlsplit(anthropic_fake.url)
    proxy = Proxy.objects.create(name="p", protocol="http", host=fake.hostname, port=fake.port)
    setup = make_setup("http://upstream.invalid", account_fields={"proxy": proxy})
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 200
    assert anthropic_fake.requests[0].path == "/v1/messages"
    assert anthropic_fake.requests[0].headers["host"] == "upstream.invalid"


def test_socks_proxy_is_refused_not_bypassed(anthropic_fake, gateway_url):
    from accounts.models import Proxy

    proxy = Proxy.objects.create(name="s", protocol="socks5", host="127.0.0.1", port=1)
    setup = make_setup(anthropic_fake.url, account_fields={"proxy": proxy})
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 502
    assert anthropic_fake.requests == []


def test_oversized_upstream_answer_is_a_502(anthropic_fake, gateway_url, settings):
    settings.UPSTREAM_RESPONSE_MAX_BYTES = 100
    setup = make_setup(anthropic_fake.url)
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "Upstream response too large"
