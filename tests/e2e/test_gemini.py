"""The Gemini gateway end to end: the google-genai SDK (and curl-like httpx calls) through subrelay to a
fake Google AI Studio (tests/fakes/gemini.py)."""

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone
from google import genai
from google.genai import errors, types

from accounts.models import Account
from apikeys.models import ApiKey
from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.gemini import (
    API_KEY,
    GeminiReply,
    error,
    key_invalid,
    rate_limited,
    response,
    sse,
    stream_chunks,
    usage_metadata,
)
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
FLASH = "gemini-2.5-flash"  # $0.30 input, $2.50 output, $0.03 cache read per million tokens
PRO = "gemini-2.5-pro"  # $1.25 / $10 / $0.125; above 200k prompt tokens $2.50 / $15 / $0.25
GEMINI = {"platform": "gemini", "api_key": API_KEY}


def gemini_setup(fake, accounts=1, account_fields=None, group_fields=None, **kwargs):
    return make_setup(fake.url, accounts=accounts, account_fields={**GEMINI, **(account_fields or {})},
                      group_fields={"platform": "gemini", **(group_fields or {})}, **kwargs)


_clients: list[genai.Client] = []  # google-genai closes its HTTP client when the Client object is collected


def sdk(key, base_url, **options) -> genai.Client:
    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base_url, **options))
    _clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    _clients.clear()


def direct(fake) -> genai.Client:
    """The same SDK straight at the fake, as Google would be called without subrelay."""
    return sdk(API_KEY, fake.url, api_version="v1beta")


def dump(result) -> dict:
    return result.model_dump(exclude={"sdk_http_response"})


def url(gateway_url, model=FLASH, action="generateContent", version="v1beta"):
    return f"{gateway_url}/{version}/models/{model}:{action}"


BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


# --- answers ---------------------------------------------------------------------------------------------
def test_generate_content_is_the_upstreams_answer_and_is_charged(gemini_fake, gateway_url):
    answer = response(text="from gemini", usage_=usage_metadata(prompt=1200, candidates=300, cached=200, thoughts=100))
    gemini_fake.reply(GeminiReply(body=answer), GeminiReply(body=answer))
    setup = gemini_setup(gemini_fake)
    relayed = sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    assert dump(relayed) == dump(direct(gemini_fake).models.generate_content(model=FLASH, contents="hi"))
    assert relayed.text == "from gemini"
    sent = gemini_fake.requests[0]
    assert (sent.path, sent.headers["x-goog-api-key"]) == (f"/v1beta/models/{FLASH}:generateContent", API_KEY)
    assert setup.raw_key not in json.dumps(sent.headers)
    assert "google-genai-sdk" in sent.headers["x-goog-api-client"]
    drain_sync()
    log = UsageLog.objects.get(api_key=setup.key)
    # input = prompt − cached, output = candidates + thoughts, cache read = cached
    assert (log.input_tokens, log.output_tokens, log.cache_read_tokens) == (1000, 400, 200)
    assert log.actual_cost == Decimal("0.001306")  # 1000 × 0.30 + 400 × 2.50 + 200 × 0.03, per million
    assert (log.model, log.upstream_model, log.stream) == (FLASH, None, False)
    assert log.endpoint == f"/v1/models/{FLASH}:generateContent"
    setup.refresh()
    assert setup.user.balance == Decimal("100") - log.actual_cost


def test_the_json_body_is_relayed_byte_for_byte(gemini_fake, gateway_url):
    gemini_fake.reply(GeminiReply(body=response(text="exact")))
    setup = gemini_setup(gemini_fake)
    reply = httpx.post(url(gateway_url), json=BODY, headers={"x-goog-api-key": setup.raw_key})
    assert reply.status_code == 200
    assert reply.content == json.dumps(response(text="exact"), indent=2).encode()


def test_generate_content_stream_sse_event_by_event(gemini_fake, gateway_url):
    final = usage_metadata(prompt=50, candidates=9, cached=10, thoughts=3)
    chunks = stream_chunks(texts=("Hel", "lo", "!"), usage_=final)
    gemini_fake.reply(GeminiReply(chunks=chunks), GeminiReply(chunks=chunks))
    setup = gemini_setup(gemini_fake)
    relayed = list(sdk(setup.raw_key, gateway_url).models.generate_content_stream(model=FLASH, contents="hi"))
    straight = list(direct(gemini_fake).models.generate_content_stream(model=FLASH, contents="hi"))
    assert [dump(c) for c in relayed] == [dump(c) for c in straight]
    assert "".join(c.text for c in relayed) == "Hello!"
    assert gemini_fake.requests[0].query == {"alt": "sse"}
    drain_sync()
    log = UsageLog.objects.get(api_key=setup.key)
    assert (log.input_tokens, log.output_tokens, log.cache_read_tokens, log.stream) == (40, 12, 10, True)
    assert log.first_token_ms is not None


def test_sse_bytes_are_the_upstreams(gemini_fake, gateway_url):
    chunks = stream_chunks(texts=("a", "b"))
    gemini_fake.reply(GeminiReply(chunks=chunks))
    setup = gemini_setup(gemini_fake)
    with httpx.stream("POST", url(gateway_url, action="streamGenerateContent") + "?alt=sse", json=BODY,
                      headers={"x-goog-api-key": setup.raw_key}) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        raw = reply.read()
    assert raw == sse(chunks)


def test_without_alt_sse_the_stream_is_one_json_array(gemini_fake, gateway_url):
    chunks = stream_chunks(texts=("x", "y", "z"), usage_=usage_metadata(prompt=30, candidates=6))
    gemini_fake.reply(GeminiReply(chunks=chunks))
    setup = gemini_setup(gemini_fake)
    with httpx.stream("POST", url(gateway_url, action="streamGenerateContent"), json=BODY,
                      headers={"x-goog-api-key": setup.raw_key}) as reply:
        assert reply.headers["content-type"] == "application/json"
        parts = list(reply.iter_raw())
    assert json.loads(b"".join(parts)) == chunks
    assert gemini_fake.requests[0].query == {"alt": "sse"}  # the upstream is always asked for SSE
    drain_sync()
    log = UsageLog.objects.get(api_key=setup.key)
    assert (log.input_tokens, log.output_tokens, log.stream) == (30, 6, True)


def test_a_broken_array_stream_still_ends_as_valid_json(gemini_fake, gateway_url):
    chunks = stream_chunks(texts=("a", "b", "c"), usage_=usage_metadata(prompt=20, candidates=3))
    gemini_fake.reply(GeminiReply(chunks=chunks, close_after=2))
    setup = gemini_setup(gemini_fake)
    reply = httpx.post(url(gateway_url, action="streamGenerateContent"), json=BODY,
                       headers={"x-goog-api-key": setup.raw_key})
    elements = json.loads(reply.content)
    assert elements[:2] == chunks[:2]
    assert elements[-1]["error"]["code"] == 502 and elements[-1]["error"]["status"] == "UNAVAILABLE"
    drain_sync()
    assert UsageLog.objects.get(api_key=setup.key).input_tokens == 20  # the usage seen so far is charged


def test_a_broken_sse_stream_ends_with_a_google_error_the_sdk_raises(gemini_fake, gateway_url):
    chunks = stream_chunks(texts=("a", "b", "c"))
    gemini_fake.reply(GeminiReply(chunks=chunks, close_after=1))
    setup = gemini_setup(gemini_fake)
    stream = sdk(setup.raw_key, gateway_url).models.generate_content_stream(model=FLASH, contents="hi")
    assert next(stream).text == "a"
    with pytest.raises(errors.ServerError) as caught:
        next(stream)
    assert caught.value.code == 502 and caught.value.status == "UNAVAILABLE"
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)


def test_count_tokens_is_forwarded_and_never_billed(gemini_fake, gateway_url):
    gemini_fake.reply(GeminiReply(body={"totalTokens": 321, "promptTokensDetails": [{"modality": "TEXT",
                                                                                       "tokenCount": 321}]}))
    setup = gemini_setup(gemini_fake)
    counted = sdk(setup.raw_key, gateway_url).models.count_tokens(model=FLASH, contents="hi there")
    assert counted.total_tokens == 321
    assert gemini_fake.requests[0].path == f"/v1beta/models/{FLASH}:countTokens"
    drain_sync()
    assert not UsageLog.objects.filter(api_key=setup.key).exists()


def test_models_list_and_get(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake)
    client = sdk(setup.raw_key, gateway_url)
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/gemini-2.5-pro" in names
    assert client.models.get(model=FLASH).display_name == "Gemini 2.5 Flash"
    beta = httpx.get(f"{gateway_url}/v1beta/models", params={"key": setup.raw_key}).json()
    assert [m["name"] for m in beta["models"]] == names
    missing = httpx.get(f"{gateway_url}/v1beta/models/gpt-4o", headers={"x-goog-api-key": setup.raw_key})
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    mapped = gemini_setup(gemini_fake, account_fields={"model_mapping": {"fast": FLASH, "smart": PRO}})
    listed = httpx.get(f"{gateway_url}/v1/models", headers={"x-goog-api-key": mapped.raw_key}).json()
    assert [m["name"] for m in listed["models"]] == ["models/fast", "models/smart"]
    assert gemini_fake.requests == []  # the list is the gateway's own


def test_v1_models_get_answers_in_each_platforms_shape(anthropic_fake, gemini_fake, gateway_url):
    claude = make_setup(anthropic_fake.url)
    one = httpx.get(f"{gateway_url}/v1/models/claude-sonnet-4-5-20250929", headers={"x-api-key": claude.raw_key})
    assert one.status_code == 200 and one.json()["id"] == "claude-sonnet-4-5-20250929"
    assert one.json()["type"] == "model"
    unknown = httpx.get(f"{gateway_url}/v1/models/nope", headers={"x-api-key": claude.raw_key})
    assert unknown.status_code == 404 and unknown.json()["type"] == "error"
    gem = gemini_setup(gemini_fake)
    entry = httpx.get(f"{gateway_url}/v1/models/{PRO}", headers={"x-goog-api-key": gem.raw_key}).json()
    assert entry["name"] == f"models/{PRO}" and "generateContent" in entry["supportedGenerationMethods"]


def test_mapping_renames_the_model_back_and_records_the_upstream_model(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake, account_fields={"model_mapping": {"fast": FLASH}})
    gemini_fake.reply(GeminiReply(body=response(model=FLASH)), GeminiReply(chunks=stream_chunks(model=FLASH)))
    client = sdk(setup.raw_key, gateway_url)
    assert client.models.generate_content(model="fast", contents="hi").model_version == "fast"
    assert [c.model_version for c in client.models.generate_content_stream(model="fast", contents="hi")] == \
        ["fast"] * 3
    assert [r.model for r in gemini_fake.requests] == [FLASH, FLASH]
    drain_sync()
    assert set(UsageLog.objects.values_list("model", "upstream_model")) == {("fast", FLASH)}


# --- keys and S7 in Google's shape -------------------------------------------------------------------------
def google_error(reply, status: int, code: str | None = None) -> dict:
    assert reply.status_code == status, reply.text
    body = reply.json()["error"]
    assert set(body) >= {"code", "message", "status"} and body["code"] == status
    if code:
        assert code in body["message"]
        assert body["details"][0]["reason"] == code and body["details"][0]["domain"] == "subrelay"
    return body


def test_the_key_is_read_from_each_place_google_clients_send_it(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake)
    for kwargs in ({"headers": {"x-goog-api-key": setup.raw_key}}, {"params": {"key": setup.raw_key}},
                   {"headers": {"authorization": f"Bearer {setup.raw_key}"}}):
        assert httpx.post(url(gateway_url), json=BODY, **kwargs).status_code == 200
    assert len(gemini_fake.requests) == 3
    assert all(r.query == {} for r in gemini_fake.requests)  # the client's ?key= never travels on


def test_refusals_are_google_shaped_with_the_s7_codes(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake)
    google_error(httpx.post(url(gateway_url), json=BODY), 401, "API_KEY_REQUIRED")
    google_error(httpx.post(url(gateway_url), json=BODY, params={"key": "sk-nope"}), 401, "INVALID_API_KEY")
    expired = gemini_setup(gemini_fake, key_fields={"expires_at": timezone.now() - timedelta(seconds=1)})
    with pytest.raises(errors.ClientError) as caught:
        sdk(expired.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    assert caught.value.code == 403 and caught.value.status == "PERMISSION_DENIED"
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_EXPIRED"
    exhausted = gemini_setup(gemini_fake, key_fields={"quota": Decimal(1), "quota_used": Decimal(1)})
    body = google_error(httpx.post(url(gateway_url), json=BODY, headers={"x-goog-api-key": exhausted.raw_key}),
                        429, "API_KEY_QUOTA_EXHAUSTED")
    assert body["status"] == "RESOURCE_EXHAUSTED"
    ApiKey.objects.filter(pk=setup.key.pk).update(status=ApiKey.Status.INACTIVE)
    from apikeys import cache

    cache.invalidate_key(setup.key.key_hash)
    google_error(httpx.post(url(gateway_url), json=BODY, headers={"x-goog-api-key": setup.raw_key}), 401,
                 "API_KEY_DISABLED")
    broke = gemini_setup(gemini_fake, balance="0")
    google_error(httpx.post(url(gateway_url), json=BODY, headers={"x-goog-api-key": broke.raw_key}), 403,
                 "INSUFFICIENT_BALANCE")
    assert gemini_fake.requests == []


def test_a_key_of_a_non_gemini_group_gets_the_references_400(anthropic_fake, gemini_fake, gateway_url):
    claude = make_setup(anthropic_fake.url)
    for version in ("v1beta", "v1"):
        body = google_error(httpx.post(url(gateway_url, version=version), json=BODY,
                                       headers={"x-goog-api-key": claude.raw_key}), 400)
        assert body["message"] == "API key group platform is not gemini"
    google_error(httpx.get(f"{gateway_url}/v1beta/models", headers={"x-goog-api-key": claude.raw_key}), 400)
    assert gemini_fake.requests == [] and anthropic_fake.requests == []


def test_bad_requests_are_google_shaped(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake)
    headers = {"x-goog-api-key": setup.raw_key}
    assert google_error(httpx.post(url(gateway_url), content=b"{nope", headers=headers), 400)["status"] == \
        "INVALID_ARGUMENT"
    google_error(httpx.post(url(gateway_url), content=b"", headers=headers), 400)
    google_error(httpx.post(url(gateway_url, action="embedContent"), json=BODY, headers=headers), 404)
    google_error(httpx.get(url(gateway_url), headers=headers), 405)
    google_error(httpx.post(f"{gateway_url}/v1beta/tunedModels/x:generateContent", json=BODY, headers=headers), 404)
    assert gemini_fake.requests == []


def test_an_upstream_client_error_reaches_the_sdk_as_google_sent_it(gemini_fake, gateway_url):
    gemini_fake.reply(GeminiReply(status=400, body=error(400, "* GenerateContentRequest.contents: contents is not "
                                                              "specified")))
    setup = gemini_setup(gemini_fake)
    with pytest.raises(errors.ClientError) as caught:
        sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    assert caught.value.code == 400 and "contents is not specified" in caught.value.message
    assert Account.objects.get(pk=setup.account.pk).status == Account.Status.ACTIVE


# --- failover ---------------------------------------------------------------------------------------------
def limited_and_other(setup):
    setup.refresh()
    limited = [a for a in setup.accounts if a.rate_limit_reset_at is not None]
    assert len(limited) == 1
    return limited[0]


def test_a_429_marks_the_account_until_the_retry_delay_and_fails_over(gemini_fake, gateway_url):
    gemini_fake.reply(GeminiReply(status=429, body=rate_limited(retry_delay="37s")), GeminiReply())
    setup = gemini_setup(gemini_fake, accounts=2)
    before = timezone.now()
    sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    limited = limited_and_other(setup)
    assert before + timedelta(seconds=36) < limited.rate_limit_reset_at < timezone.now() + timedelta(seconds=38)
    drain_sync()
    assert UsageLog.objects.get(api_key=setup.key).account_id != limited.pk


def test_a_daily_quota_lasts_until_midnight_pacific(gemini_fake, gateway_url):
    from zoneinfo import ZoneInfo

    gemini_fake.reply(GeminiReply(status=429, body=rate_limited(retry_delay="12s", daily=True)), GeminiReply())
    setup = gemini_setup(gemini_fake, accounts=2)
    sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    reset = limited_and_other(setup).rate_limit_reset_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (reset.hour, reset.minute, reset.second) == (0, 0, 0)
    assert timedelta(0) < reset - timezone.now() <= timedelta(hours=24)


def test_only_the_message_says_when_to_retry(gemini_fake, gateway_url):
    gemini_fake.reply(GeminiReply(status=429, body=error(429, "Resource exhausted. Please retry in 90s.")),
                      GeminiReply())
    setup = gemini_setup(gemini_fake, accounts=2)
    sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    left = limited_and_other(setup).rate_limit_reset_at - timezone.now()
    assert timedelta(seconds=85) < left <= timedelta(seconds=90)


@pytest.mark.parametrize(("status", "body"), [
    (400, key_invalid()), (401, error(401, "Request had invalid authentication credentials.")),
    (403, error(403, "Your API key was reported as leaked. Please use another API key.")),
])
def test_refused_credentials_mark_the_account_and_fail_over(gemini_fake, gateway_url, status, body):
    gemini_fake.reply(GeminiReply(status=status, body=body), GeminiReply())
    setup = gemini_setup(gemini_fake, accounts=2)
    assert sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi").text
    setup.refresh()
    dead = [a for a in setup.accounts if a.status == Account.Status.ERROR]
    assert len(dead) == 1 and len(gemini_fake.requests) == 2
    drain_sync()
    assert UsageLog.objects.get(api_key=setup.key).account_id != dead[0].pk


def test_5xx_fails_over_without_marking_and_exhaustion_is_a_google_error(gemini_fake, gateway_url):
    overloaded = GeminiReply(status=503, body=error(503, "The model is overloaded. Please try again later."))
    gemini_fake.reply(overloaded, GeminiReply())
    setup = gemini_setup(gemini_fake, accounts=2)
    sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    setup.refresh()
    assert all(a.status == Account.Status.ACTIVE and a.rate_limit_reset_at is None for a in setup.accounts)
    gemini_fake.reply(overloaded, overloaded)
    with pytest.raises(errors.ServerError) as caught:
        sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    assert caught.value.code == 502 and caught.value.status == "UNAVAILABLE"
    gemini_fake.reply(GeminiReply(status=429, body=rate_limited()), GeminiReply(status=429, body=rate_limited()))
    fresh = gemini_setup(gemini_fake, accounts=2)
    reply = httpx.post(url(gateway_url), json=BODY, headers={"x-goog-api-key": fresh.raw_key})
    assert google_error(reply, 429)["status"] == "RESOURCE_EXHAUSTED"


def test_pool_mode_retries_in_place_and_never_marks(gemini_fake, gateway_url, settings):
    settings.POOL_MODE_RETRY_DELAY = 0
    gemini_fake.reply(GeminiReply(status=429, body=rate_limited()), GeminiReply())
    setup = gemini_setup(gemini_fake, accounts=2, account_fields={"pool_mode": True})
    sdk(setup.raw_key, gateway_url).models.generate_content(model=FLASH, contents="hi")
    setup.refresh()
    assert all(a.rate_limit_reset_at is None for a in setup.accounts) and len(gemini_fake.requests) == 2


def test_a_missing_upstream_key_fails_before_any_call(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake)
    Account.objects.filter(pk=setup.account.pk).update(api_key="")
    reply = httpx.post(url(gateway_url), json=BODY, headers={"x-goog-api-key": setup.raw_key})
    assert "api_key is required" in google_error(reply, 502)["message"]
    assert gemini_fake.requests == []


# --- sticky sessions ------------------------------------------------------------------------------------
def test_the_gemini_cli_project_keeps_its_account(gemini_fake, gateway_url):
    from asgiref.sync import async_to_sync

    from gateway.scheduler import sticky

    setup = gemini_setup(gemini_fake, accounts=3)
    project = "ab" * 32
    body = {"contents": [{"role": "user", "parts": [{"text": f"My temp dir is /home/u/.gemini/tmp/{project}"}]}]}
    headers = {"x-goog-api-key": setup.raw_key, "x-gemini-api-privileged-user-id": "cli-user-1"}
    for text in ("one", "two", "three"):
        body["contents"].append({"role": "user", "parts": [{"text": text}]})
        assert httpx.post(url(gateway_url, action="streamGenerateContent") + "?alt=sse", json=body,
                          headers=headers).status_code == 200
    drain_sync()
    used = set(UsageLog.objects.filter(api_key=setup.key).values_list("account_id", flat=True))
    assert len(used) == 1
    from gateway.dialects import GEMINI, Inbound

    inbound = Inbound(dialect=GEMINI, action="streamGenerateContent", endpoint="", body=json.dumps(body).encode(),
                      data=body, model=FLASH, stream=True, params={"cli_user": "cli-user-1"})
    session = GEMINI.session_hash(inbound, None, "127.0.0.1", setup.key.pk)
    assert session.startswith("gemini:")
    assert async_to_sync(sticky.bound_account)(setup.group.pk, session) == used.pop()


# --- charges ----------------------------------------------------------------------------------------------
def test_long_context_prompts_pay_the_higher_rate_s7_included(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake, group_rate="2", key_fields={"quota": Decimal(10)},
                         account_fields={"quota_limit": Decimal(100)})
    long = usage_metadata(prompt=250_000, candidates=1_000, cached=50_000)
    short = usage_metadata(prompt=150_000, candidates=1_000, cached=50_000)
    gemini_fake.reply(GeminiReply(body=response(model=PRO, usage_=long)),
                      GeminiReply(body=response(model=PRO, usage_=short)))
    client = sdk(setup.raw_key, gateway_url)
    client.models.generate_content(model=PRO, contents="big")
    client.models.generate_content(model=PRO, contents="smaller")
    drain_sync()
    costs = list(UsageLog.objects.filter(api_key=setup.key).order_by("id").values_list("total_cost", flat=True))
    # 200k × $2.50 + 1k × $15 + 50k × $0.25 = 0.5275; 100k × $1.25 + 1k × $10 + 50k × $0.125 = 0.14125
    assert costs == [Decimal("0.5275"), Decimal("0.14125")]
    setup.refresh()
    assert setup.key.quota_used == 2 * sum(costs)  # S7: what the user pays, after the group multiplier
    assert setup.user.balance == Decimal(100) - 2 * sum(costs)
    assert setup.account.quota_used == sum(costs)


def test_200_parallel_requests_sum_exactly(gemini_fake, gateway_url):
    setup = gemini_setup(gemini_fake, balance="100", key_fields={"quota": Decimal("100")},
                         account_fields={"quota_limit": Decimal("100")})
    # Every default reply of the fake: 12 input + 5 output tokens of gemini-2.5-flash = $0.0000161.
    client = sdk(setup.raw_key, gateway_url)

    async def burst():
        async def one(index):
            if index % 2:
                chunks = [c async for c in await client.aio.models.generate_content_stream(model=FLASH,
                                                                                          contents=f"n{index}")]
                return chunks[-1]
            return await client.aio.models.generate_content(model=FLASH, contents=f"n{index}")

        return await asyncio.gather(*(one(i) for i in range(200)))

    replies = asyncio.run(burst())
    assert len(replies) == 200 and all(r.usage_metadata.prompt_token_count == 12 for r in replies)
    drain_sync()
    setup.refresh()
    per_request = Decimal("0.0000161")
    assert UsageLog.objects.filter(api_key=setup.key).count() == 200
    assert setup.user.balance == Decimal("100") - 200 * per_request
    assert setup.key.quota_used == 200 * per_request
    assert setup.account.quota_used == 200 * per_request
