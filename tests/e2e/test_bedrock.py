"""Bedrock accounts end to end (spec S3, reference §4): the anthropic SDK through subrelay to a fake
Bedrock that verifies SigV4 signatures and Bearer keys and answers in AWS event-stream frames."""

import json
from decimal import Decimal

import anthropic
import httpx
import pytest

from accounts.models import Account
from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.anthropic import Reply, encode_event, message, stream_events, usage
from tests.fakes.bedrock import ACCESS_KEY_ID, API_KEY, SECRET_ACCESS_KEY, BedrockReply
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
SIGV4 = {"bedrock_auth_mode": "sigv4", "aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY,
         "aws_region": "us-west-2", "api_key": ""}
APIKEY = {"bedrock_auth_mode": "apikey", "api_key": API_KEY, "aws_region": "eu-west-1", "aws_access_key_id": ""}
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
SONNET_US = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SONNET_EU = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"


def bedrock_setup(fields, **kwargs):
    # base_url points nowhere useful on purpose: a Bedrock account never uses it.
    return make_setup("http://127.0.0.1:9", account_type="bedrock", account_fields=fields, **kwargs)


def sdk(setup, gateway_url):
    return anthropic.Anthropic(api_key=setup.raw_key, base_url=gateway_url, max_retries=0)


@pytest.mark.parametrize(("fields", "model_id", "auth"), [(SIGV4, SONNET_US, "sigv4"), (APIKEY, SONNET_EU, "apikey")])
def test_json_answer_is_the_anthropic_one_and_is_charged(bedrock_fake, anthropic_fake, gateway_url, fields, model_id,
                                                          auth):
    answer = message(text="from bedrock", usage_=usage(input=120, output=30))
    bedrock_fake.reply(BedrockReply(body=answer))
    setup = bedrock_setup(fields)
    reply = sdk(setup, gateway_url).messages.create(**BODY)
    # The same message an Anthropic account gives, without Bedrock's invocation metrics.
    anthropic_fake.reply(Reply(body=answer))
    direct = sdk(make_setup(anthropic_fake.url), gateway_url).messages.create(**BODY)
    assert reply.model_dump() == direct.model_dump()
    sent = bedrock_fake.requests[0]
    assert sent.auth == auth and sent.model_id == model_id and sent.path.endswith("/invoke")
    body = sent.json
    assert body["anthropic_version"] == "bedrock-2023-05-31" and "model" not in body and "stream" not in body
    drain_sync()
    log = UsageLog.objects.get(api_key=setup.key)
    assert (log.model, log.upstream_model) == ("claude-sonnet-4-5", model_id)
    assert (log.input_tokens, log.output_tokens) == (120, 30)
    assert log.actual_cost == Decimal("0.000810")  # 120 × $3/M + 30 × $15/M
    setup.refresh()
    assert setup.user.balance == Decimal("100") - log.actual_cost


def test_s3_1_api_key_stream_goes_to_the_regional_profile_with_a_bearer_key(bedrock_fake, gateway_url):
    events = stream_events(texts=("Hel", "lo"), usage_=usage(input=40, output=7, cache_read=10))
    bedrock_fake.reply(BedrockReply(events=events))
    setup = bedrock_setup(APIKEY)
    with httpx.stream("POST", gateway_url + "/v1/messages", json={**BODY, "stream": True},
                      headers={"x-api-key": setup.raw_key}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["request-id"] == "fake-bedrock-request"
        raw = r.read()
    # Exactly the Anthropic events, re-emitted from the event-stream frames (the metrics taken out).
    assert raw == b"".join(encode_event(name, data) for name, data in events)
    sent = bedrock_fake.requests[0]
    assert sent.path == f"/model/{SONNET_EU}/invoke-with-response-stream"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in sent.headers
    drain_sync()
    log = UsageLog.objects.get()
    assert (log.input_tokens, log.output_tokens, log.cache_read_tokens, log.stream) == (40, 7, 10, True)
    assert log.upstream_model == SONNET_EU


def test_s3_2_sigv4_is_scoped_to_bedrock_and_the_region(bedrock_fake, gateway_url):
    setup = bedrock_setup({**SIGV4, "aws_region": "", "aws_session_token": "session-token-1"})
    sdk(setup, gateway_url).messages.create(**BODY)
    sent = bedrock_fake.requests[0]
    assert sent.auth == "sigv4"  # the fake recomputed the signature and it matched
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.headers["x-amz-security-token"] == "session-token-1"
    assert sent.model_id == SONNET_US


def test_sdk_stream_through_sigv4(bedrock_fake, gateway_url):
    bedrock_fake.reply(BedrockReply(events=stream_events(texts=("a", "b", "c"), usage_=usage(input=3, output=9))))
    setup = bedrock_setup(SIGV4)
    with sdk(setup, gateway_url).messages.stream(**BODY) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "abc" and final.usage.output_tokens == 9
    drain_sync()
    assert UsageLog.objects.get().output_tokens == 9


def test_a_wrong_secret_is_refused_by_bedrock_and_marks_the_account(bedrock_fake, gateway_url):
    setup = bedrock_setup({**SIGV4, "aws_secret_access_key": "not-the-secret"})
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk(setup, gateway_url).messages.create(**BODY)
    assert caught.value.status_code == 502  # never the upstream's 403 as a verdict on the client's key
    assert bedrock_fake.requests[0].auth == "sigv4"
    account = Account.objects.get(pk=setup.account.pk)
    assert account.status == Account.Status.ERROR and "403" in account.error_message


def test_s3_3_missing_api_key_fails_before_any_upstream_call(bedrock_fake, gateway_url):
    setup = bedrock_setup(APIKEY)
    Account.objects.filter(pk=setup.account.pk).update(api_key="")
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk(setup, gateway_url).messages.create(**BODY)
    assert caught.value.status_code == 502
    assert "api_key not found in bedrock credentials" in caught.value.message
    assert bedrock_fake.requests == []
    assert Account.objects.get(pk=setup.account.pk).status == Account.Status.ERROR


def test_no_bedrock_key_ever_reaches_a_non_bedrock_url(bedrock_fake, anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, account_type="bedrock", account_fields=APIKEY)
    sdk(setup, gateway_url).messages.create(**BODY)
    with httpx.stream("POST", gateway_url + "/v1/messages", json={**BODY, "stream": True},
                      headers={"x-api-key": setup.raw_key}) as r:
        r.read()
    assert anthropic_fake.requests == []  # the account's base URL is not where Bedrock lives
    assert len(bedrock_fake.requests) == 2
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in bedrock_fake.requests)


def test_s3_5_pool_mode_retries_429_in_place_then_answers(bedrock_fake, gateway_url, settings):
    settings.POOL_MODE_RETRY_DELAY = 0
    throttled = BedrockReply(status=429, body={"message": "Too many requests"},
                             headers={"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/"})
    bedrock_fake.reply(throttled, throttled, throttled, BedrockReply(body=message()))
    setup = bedrock_setup({**APIKEY, "pool_mode": True}, accounts=2)
    sdk(setup, gateway_url).messages.create(**BODY)
    assert len(bedrock_fake.requests) == 4
    setup.refresh()
    assert all(a.status == Account.Status.ACTIVE and a.rate_limit_reset_at is None for a in setup.accounts)
    drain_sync()
    assert UsageLog.objects.get().account_id in {a.pk for a in setup.accounts}
    assert len({r.headers["authorization"] for r in bedrock_fake.requests}) == 1  # one account throughout


def test_s3_5_without_pool_mode_a_429_marks_and_fails_over(bedrock_fake, gateway_url):
    bedrock_fake.reply(BedrockReply(status=429, body={"message": "Too many requests"}, headers={"retry-after": "60"}),
                       BedrockReply(body=message()))
    setup = bedrock_setup(APIKEY, accounts=2)
    sdk(setup, gateway_url).messages.create(**BODY)
    setup.refresh()
    limited = [a for a in setup.accounts if a.rate_limit_reset_at is not None]
    assert len(limited) == 1
    drain_sync()
    assert UsageLog.objects.get().account_id != limited[0].pk


def test_s3_6_an_exhausted_bedrock_quota_is_never_chosen_until_reset(bedrock_fake, gateway_url):
    setup = bedrock_setup({**APIKEY, "quota_limit": Decimal(5)})
    Account.objects.filter(pk=setup.account.pk).update(quota_used=Decimal(5) * 10**9)
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk(setup, gateway_url).messages.create(**BODY)
    assert caught.value.status_code == 503 and bedrock_fake.requests == []
    Account.objects.get(pk=setup.account.pk).reset_quota()
    sdk(setup, gateway_url).messages.create(**BODY)
    assert len(bedrock_fake.requests) == 1


def test_s3_7_account_quota_is_charged_times_its_multiplier(bedrock_fake, gateway_url):
    bedrock_fake.reply(BedrockReply(body=message(usage_=usage(input=400_000, output=0))))
    setup = bedrock_setup({**APIKEY, "quota_limit": Decimal(100), "rate_multiplier": Decimal("1.5")})
    sdk(setup, gateway_url).messages.create(**{**BODY, "model": "claude-haiku-4-5"})  # $1 per M input: $0.40
    drain_sync()
    log = UsageLog.objects.get()
    assert log.total_cost == Decimal("0.4") and log.upstream_model.endswith("anthropic.claude-haiku-4-5-20251001-v1:0")
    assert Account.objects.get(pk=setup.account.pk).quota_used == Decimal("0.6")


def test_an_exception_frame_ends_the_stream_with_an_error_event_and_charges_what_was_seen(bedrock_fake,
                                                                                       gateway_url):
    events = [e for e in stream_events(usage_=usage(input=50, output=5)) if e[0] not in ("message_delta",
                                                                                          "message_stop")]
    bedrock_fake.reply(BedrockReply(events=events, exception=("throttlingException", "Too many tokens")))
    setup = bedrock_setup(APIKEY)
    with httpx.stream("POST", gateway_url + "/v1/messages", json={**BODY, "stream": True},
                      headers={"x-api-key": setup.raw_key}) as r:
        raw = r.read()
    last = raw.strip().split(b"\n\n")[-1]
    assert last.startswith(b"event: error\n")
    error = json.loads(last.split(b"data: ", 1)[1])
    assert error["error"]["type"] == "rate_limit_error" and "Too many tokens" in error["error"]["message"]
    assert raw.count(b"event: error") == 1
    drain_sync()
    assert UsageLog.objects.get().input_tokens == 50
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)


def test_a_bedrock_client_error_reaches_the_sdk_in_anthropic_shape(bedrock_fake, gateway_url):
    bedrock_fake.reply(BedrockReply(status=400, body={"message": "messages: field required"},
                                    headers={"x-amzn-errortype": "ValidationException:http://internal.amazon.com/"}))
    setup = bedrock_setup(APIKEY)
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk(setup, gateway_url).messages.create(**BODY)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.body["error"]["message"] == "ValidationException: messages: field required"
    assert caught.value.response.headers["request-id"] == "fake-bedrock-request"


def test_a_model_bedrock_cannot_serve_makes_the_account_no_candidate(bedrock_fake, gateway_url):
    setup = bedrock_setup(APIKEY)
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk(setup, gateway_url).messages.create(**{**BODY, "model": "gpt-4o"})
    assert caught.value.status_code == 503 and bedrock_fake.requests == []


def test_force_global_and_mapping(bedrock_fake, gateway_url):
    setup = bedrock_setup({**APIKEY, "aws_force_global": True,
                           "model_mapping": {"fast": "claude-haiku-4-5", "claude-sonnet-4-5": "claude-sonnet-4-5"}})
    sdk(setup, gateway_url).messages.create(**{**BODY, "model": "fast"})
    assert bedrock_fake.requests[0].model_id == "global.anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.mark.parametrize("blocked_scope", ["apikey", "bedrock"])
def test_s3_8_a_block_rule_applies_to_its_scope_only(bedrock_fake, anthropic_fake, gateway_url, blocked_scope):
    from accounts.models import BetaRule

    BetaRule.objects.create(beta_token="x-beta", action="block", scope=blocked_scope, error_message="no x here")
    headers = {"anthropic-beta": "x-beta"}
    setups = {"apikey": make_setup(anthropic_fake.url), "bedrock": bedrock_setup(APIKEY)}
    for scope, setup in setups.items():
        client = sdk(setup, gateway_url)
        if scope == blocked_scope:
            with pytest.raises(anthropic.BadRequestError) as caught:
                client.messages.create(**BODY, extra_headers=headers)
            assert caught.value.body["error"]["message"] == "no x here"
        else:
            client.messages.create(**BODY, extra_headers=headers)
    assert len(anthropic_fake.requests) == (0 if blocked_scope == "apikey" else 1)
    assert len(bedrock_fake.requests) == (0 if blocked_scope == "bedrock" else 1)


def test_a_filter_rule_drops_the_token_on_its_way(bedrock_fake, anthropic_fake, gateway_url):
    from accounts.models import BetaRule

    BetaRule.objects.create(beta_token="context-1m-2025-08-07", action="filter", scope="all")
    headers = {"anthropic-beta": "context-1m-2025-08-07,interleaved-thinking-2025-05-14"}
    sdk(make_setup(anthropic_fake.url), gateway_url).messages.create(**BODY, extra_headers=headers)
    sdk(bedrock_setup(APIKEY), gateway_url).messages.create(**BODY, extra_headers=headers)
    assert anthropic_fake.requests[0].headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert bedrock_fake.requests[0].json["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]
