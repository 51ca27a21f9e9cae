"""OpenAI Chat Completions end to end: the official openai SDK through subrelay to the fake OpenAI API
(tests/fakes/openai.py). Answers are the upstream's, streams are exactly what the client asked for, and
every answer is charged from the upstream's usage."""

import json
from decimal import Decimal

import httpx
import openai
import pytest

from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.openai import Reply, chat_chunks, chat_usage, completion, encode_chat, error
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
MINI = "gpt-4o-mini"  # $0.15 input, $0.075 cached input, $0.60 output per MTok
MESSAGES = [{"role": "user", "content": "hi"}]





def post(gateway_url, setup, body, path="/v1/chat/completions", **kwargs):
    return httpx.post(gateway_url + path, json=body, headers={"authorization": f"Bearer {setup.raw_key}"},
                      timeout=30, **kwargs)


def stream_bytes(gateway_url, setup, body, path="/v1/chat/completions"):
    with httpx.stream("POST", gateway_url + path, content=json.dumps(body), timeout=30,
                      headers={"authorization": f"Bearer {setup.raw_key}", "content-type": "application/json"}
                      ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return response.read()


def test_json_answer_is_the_upstreams_and_is_charged_with_cached_tokens(openai_fake, openai_sdk, openai_direct):
    answer = completion(model=MINI, text="from openai", usage_=chat_usage(prompt=1000, completion=200, cached=400))
    setup = make_setup(openai_fake.url, platform="openai")
    openai_fake.reply(Reply(body=answer), Reply(body=answer))
    through = openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES)
    upstream = openai_direct.chat.completions.create(model=MINI, messages=MESSAGES)
    assert through.model_dump() == upstream.model_dump()
    assert through.choices[0].message.content == "from openai"
    sent = openai_fake.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.json == {"model": MINI, "messages": MESSAGES}
    drain_sync()
    log = UsageLog.objects.get(api_key=setup.key)
    assert (log.input_tokens, log.cache_read_tokens, log.output_tokens) == (600, 400, 200)
    assert (log.model, log.upstream_model, log.endpoint, log.stream) == (MINI, None, "/v1/chat/completions", False)
    # 600 × $0.15 + 400 × $0.075 + 200 × $0.60 per million
    assert (log.input_cost, log.cache_read_cost, log.output_cost) == (Decimal("0.00009"), Decimal("0.00003"),
                                                                      Decimal("0.00012"))
    assert log.actual_cost == Decimal("0.00024") and log.service_tier == "default"
    setup.refresh()
    assert setup.user.balance == Decimal("100") - log.actual_cost


def test_stream_without_include_usage_is_exactly_what_the_client_asked_for_and_is_billed(openai_fake, gateway_url):
    events = chat_chunks(model=MINI, texts=("Hel", "lo"), usage_=chat_usage(prompt=30, completion=7, cached=10))
    openai_fake.reply(Reply(events=events))
    setup = make_setup(openai_fake.url, platform="openai")
    raw = stream_bytes(gateway_url, setup, {"model": MINI, "messages": MESSAGES, "stream": True})
    assert raw == encode_chat(events, include_usage=False)  # no usage chunk, no "usage":null
    assert openai_fake.requests[0].json["stream_options"] == {"include_usage": True}  # asked upstream anyway
    drain_sync()
    log = UsageLog.objects.get()
    assert (log.input_tokens, log.cache_read_tokens, log.output_tokens, log.stream) == (20, 10, 7, True)
    assert log.first_token_ms is not None


def test_stream_with_include_usage_keeps_the_usage_chunk(openai_fake, gateway_url):
    events = chat_chunks(model=MINI, usage_=chat_usage(prompt=11, completion=3))
    openai_fake.reply(Reply(events=events))
    setup = make_setup(openai_fake.url, platform="openai")
    body = {"model": MINI, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    assert stream_bytes(gateway_url, setup, body) == encode_chat(events, include_usage=True)
    assert openai_fake.requests[0].body == json.dumps(body).encode()  # relayed byte for byte
    drain_sync()
    assert UsageLog.objects.get().output_tokens == 3


@pytest.mark.parametrize("include_usage", [False, True])
def test_sdk_stream(openai_fake, gateway_url, include_usage, openai_sdk, openai_direct):
    events = chat_chunks(model=MINI, texts=("a", "b", "c"), usage_=chat_usage(prompt=5, completion=9))
    setup = make_setup(openai_fake.url, platform="openai")
    openai_fake.reply(Reply(events=events), Reply(events=events))
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES, stream=True,
                                                                  **options))
    expected = list(openai_direct.chat.completions.create(model=MINI, messages=MESSAGES, stream=True, **options))
    assert [c.model_dump() for c in chunks] == [c.model_dump() for c in expected]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc"
    assert (chunks[-1].usage is not None) is include_usage
    drain_sync()
    assert UsageLog.objects.get(api_key=setup.key).output_tokens == 9


def test_mapped_model_goes_upstream_and_comes_back_as_asked(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai",
                       account_fields={"model_mapping": {"house-model": "gpt-4.1-mini"}})
    openai_fake.reply(Reply(body=completion(model="gpt-4.1-mini-2025-04-14")),
                      Reply(events=chat_chunks(model="gpt-4.1-mini-2025-04-14")))
    reply = openai_sdk(setup).chat.completions.create(model="house-model", messages=MESSAGES)
    assert reply.model == "house-model"
    chunks = list(openai_sdk(setup).chat.completions.create(model="house-model", messages=MESSAGES, stream=True))
    assert {c.model for c in chunks} == {"house-model"}
    assert [r.json["model"] for r in openai_fake.requests] == ["gpt-4.1-mini", "gpt-4.1-mini"]
    assert openai_fake.requests[1].json["stream_options"] == {"include_usage": True}
    drain_sync()
    logs = UsageLog.objects.filter(api_key=setup.key)
    assert {(log.model, log.upstream_model) for log in logs} == {("house-model", "gpt-4.1-mini")}
    # Priced as the upstream model: 10 × $0.40 + 5 × $1.60 per million.
    assert {log.total_cost for log in logs} == {Decimal("0.000012")}


def test_upstream_headers_are_built_not_copied(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai")
    client = openai.OpenAI(api_key=setup.raw_key, base_url=gateway_url + "/v1", max_retries=0,
                           organization="org-client", project="proj-client")
    client.chat.completions.create(model=MINI, messages=MESSAGES, extra_headers={"cookie": "a=b"})
    sent = openai_fake.requests[0].headers
    assert sent["authorization"] == "Bearer sk-ant-upstream-0"
    assert setup.raw_key not in json.dumps(sent)
    assert not {"openai-organization", "openai-project", "cookie", "x-api-key"} & set(sent)
    assert sent["user-agent"].startswith("OpenAI/Python") and sent["x-stainless-lang"] == "python"
    assert sent["accept-encoding"] == "identity"


@pytest.mark.parametrize("base", ["", "/v1", "/v1/"])
def test_base_url_with_or_without_v1(openai_fake, gateway_url, base, openai_sdk):
    setup = make_setup(openai_fake.url + base, platform="openai")
    openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES)
    assert openai_fake.requests[0].path == "/v1/chat/completions"


def test_default_base_url_is_the_setting(openai_fake, gateway_url, settings, openai_sdk):
    settings.OPENAI_BASE_URL = openai_fake.url + "/v1"
    setup = make_setup("", platform="openai")
    openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES)
    assert openai_fake.requests[0].path == "/v1/chat/completions"


def test_the_route_without_v1(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai")
    assert openai_sdk(setup, prefix="").chat.completions.create(model=MINI, messages=MESSAGES).choices
    assert openai_fake.requests[0].path == "/v1/chat/completions"


def test_an_upstream_client_error_is_relayed_as_it_is(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2)
    body = error("invalid_value", "messages: bad role", "invalid_request_error")
    openai_fake.reply(Reply(status=400, body=body))
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk(setup).chat.completions.create(model=MINI, messages=MESSAGES)
    assert caught.value.body == body["error"]
    assert caught.value.response.headers["x-request-id"] == "req_openai_fake"
    assert len(openai_fake.requests) == 1


@pytest.mark.parametrize(("body", "message"), [
    (b"", "Request body is empty"),
    (b"not json", "Failed to parse request body"),
    (b"[1, 2]", "Failed to parse request body"),
    (json.dumps({"messages": MESSAGES}).encode(), "model is required"),
    (json.dumps({"model": 5, "messages": MESSAGES}).encode(), "model is required"),
    (json.dumps({"model": MINI, "messages": MESSAGES, "stream": "yes"}).encode(), "stream must be a boolean"),
    (json.dumps({"model": MINI, "stream": True, "stream_options": "x"}).encode(), "stream_options must be an object"),
])
def test_bad_bodies_are_openai_shaped_400s(openai_fake, gateway_url, body, message):
    setup = make_setup(openai_fake.url, platform="openai")
    response = httpx.post(gateway_url + "/v1/chat/completions", content=body,
                          headers={"authorization": f"Bearer {setup.raw_key}", "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                         "code": None}}
    assert openai_fake.requests == []


def test_odd_bodies_never_get_a_500(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai")
    base = {"model": MINI, "messages": MESSAGES}
    for body in ({**base, "stream": None}, {**base, "stream": True, "stream_options": None},
                 {**base, "stream": True, "stream_options": {"include_usage": "yes"}}, {**base, "messages": "hi"},
                 {**base, "prompt_cache_key": 5}, {**base, "model": "m" * 10_000}, {**base, "n": {"x": 1}}):
        response = post(gateway_url, setup, body)
        assert response.status_code < 500, (body, response.text[:300])


def test_an_anthropic_key_is_refused_in_openai_shape(anthropic_fake, openai_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    response = post(gateway_url, setup, {"model": MINI, "messages": MESSAGES})
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    assert anthropic_fake.requests == [] and openai_fake.requests == []


def test_a_broken_stream_ends_with_an_openai_error_event_and_charges_nothing_unknown(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai")
    openai_fake.reply(Reply(events=chat_chunks(model=MINI), close_after=2))
    raw = stream_bytes(gateway_url, setup, {"model": MINI, "messages": MESSAGES, "stream": True})
    last = raw.strip().split(b"\n\n")[-1]
    assert json.loads(last.removeprefix(b"data: "))["error"]["message"] == "Upstream stream failed"
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)
    drain_sync()
    assert not UsageLog.objects.exists()  # the upstream never said what it used


def test_other_openai_endpoints_are_openai_shaped_404s(gateway_url):
    for path in ("/v1/embeddings", "/v1/completions", "/chat/completions/x", "/responses_x"):
        response = httpx.post(gateway_url + path, json={})
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found_error", path
