"""OpenAI Responses end to end: the official openai SDK through subrelay to the fake OpenAI API.
Answers and events are the upstream's; a follow-up (`previous_response_id`) goes to the account that
produced the response it continues; a session (`session_id`, `prompt_cache_key`) stays on one account."""

from decimal import Decimal

import httpx
import openai
import pytest
from asgiref.sync import async_to_sync

from billing.models import UsageLog
from billing.settlement import drain_sync
from gateway.dialects.openai import response_key
from gateway.scheduler import sticky
from tests.fakes.openai import Reply, encode, response, response_events, responses_usage
from tests.live import make_setup, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
MODEL = "gpt-5.1"  # $1.25 input, $0.125 cached input, $10 output per MTok





def post(gateway_url, setup, body, path="/v1/responses", headers=None):
    return httpx.post(gateway_url + path, json=body, timeout=30,
                      headers={"authorization": f"Bearer {setup.raw_key}", **(headers or {})})


def account_keys(fake):
    return [r.headers["authorization"].removeprefix("Bearer ") for r in fake.requests]


def test_json_answer_is_the_upstreams_with_output_text_and_is_charged(openai_fake, openai_sdk, openai_direct):
    answer = response(model=MODEL, text="four", usage_=responses_usage(input=2000, cached=1500, output=300,
                                                                       reasoning=120))
    setup = make_setup(openai_fake.url, platform="openai")
    openai_fake.reply(Reply(body=answer), Reply(body=answer))
    through = openai_sdk(setup).responses.create(model=MODEL, input="2+2?")
    assert through.model_dump() == openai_direct.responses.create(model=MODEL, input="2+2?").model_dump()
    assert through.output_text == "four"
    assert openai_fake.requests[0].path == "/v1/responses"
    drain_sync()
    log = UsageLog.objects.get(api_key=setup.key)
    assert (log.input_tokens, log.cache_read_tokens, log.output_tokens) == (500, 1500, 300)  # reasoning inside
    # 500 × $1.25 + 1500 × $0.125 + 300 × $10 per million
    assert log.total_cost == Decimal("0.000625") + Decimal("0.0001875") + Decimal("0.003")
    assert log.endpoint == "/v1/responses"


def test_stream_events_through_response_completed(openai_fake, gateway_url, openai_sdk, openai_direct):
    events = response_events(model=MODEL, texts=("Hel", "lo", "!"), usage_=responses_usage(input=40, output=9,
                                                                                           cached=8))
    setup = make_setup(openai_fake.url, platform="openai")
    openai_fake.reply(Reply(events=events), Reply(events=events))
    through = list(openai_sdk(setup).responses.create(model=MODEL, input="hi", stream=True))
    expected = list(openai_direct.responses.create(model=MODEL, input="hi", stream=True))
    assert [e.model_dump() for e in through] == [e.model_dump() for e in expected]
    assert through[0].type == "response.created" and through[-1].type == "response.completed"
    assert "".join(e.delta for e in through if e.type == "response.output_text.delta") == "Hello!"
    drain_sync()
    log = UsageLog.objects.get(api_key=setup.key)
    assert (log.input_tokens, log.cache_read_tokens, log.output_tokens, log.stream) == (32, 8, 9, True)


def test_stream_bytes_are_relayed_as_sent(openai_fake, gateway_url):
    events = response_events(model=MODEL)
    openai_fake.reply(Reply(events=events))
    setup = make_setup(openai_fake.url, platform="openai")
    with httpx.stream("POST", gateway_url + "/v1/responses", json={"model": MODEL, "input": "x", "stream": True},
                      headers={"authorization": f"Bearer {setup.raw_key}"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    assert raw == b"".join(encode(name, data) for name, data in events)
    assert "stream_options" not in openai_fake.requests[0].json


def test_sdk_stream_helper_final_response(openai_fake, gateway_url, openai_sdk):
    openai_fake.reply(Reply(events=response_events(model=MODEL, texts=("a", "b"))))
    setup = make_setup(openai_fake.url, platform="openai")
    with openai_sdk(setup).responses.stream(model=MODEL, input="hi") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert final.output_text == "ab" and kinds[-1] == "response.completed"


def test_a_follow_up_goes_to_the_account_that_produced_the_response(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", accounts=2)
    client = openai_sdk(setup)
    first = client.responses.create(model=MODEL, input="one")
    # Without a follow-up the least recently used account answers next...
    client.responses.create(model=MODEL, input="unrelated")
    producer, other = account_keys(openai_fake)
    assert producer != other
    # ...but a follow-up goes back to the producer, JSON or stream, and its answer binds in turn.
    second = client.responses.create(model=MODEL, input="two", previous_response_id=first.id)
    assert openai_fake.requests[-1].json["previous_response_id"] == first.id
    streamed = list(client.responses.create(model=MODEL, input="three", previous_response_id=second.id, stream=True))
    third_id = streamed[0].response.id
    client.responses.create(model=MODEL, input="four", previous_response_id=third_id)
    assert account_keys(openai_fake)[2:] == [producer] * 3
    producer_id = next(a.pk for a in setup.accounts if a.api_key == producer)
    bound = wait_until(lambda: async_to_sync(sticky.bound_account)(setup.group.pk, response_key(third_id)))
    assert bound == producer_id


def test_a_session_stays_on_one_account(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai", accounts=3)
    for hint in ({"headers": {"session_id": "s-1"}}, {"headers": {"conversation_id": "c-1"}},
                 {"body": {"prompt_cache_key": "k-1"}}):
        openai_fake.reset()
        for index in range(4):
            body = {"model": MODEL, "input": f"turn {index}", **hint.get("body", {})}
            assert post(gateway_url, setup, body, headers=hint.get("headers")).status_code == 200
        assert len(set(account_keys(openai_fake))) == 1, hint
    openai_fake.reset()
    for index in range(3):
        post(gateway_url, setup, {"model": MODEL, "input": f"turn {index}"})
    assert len(set(account_keys(openai_fake))) == 3  # no hint: spread by least recent use


def test_compact_subpath(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai")
    for path in ("/v1/responses/compact", "/responses/compact"):
        body = {"model": MODEL, "input": [{"role": "user", "content": "long"}]}
        response_ = post(gateway_url, setup, body, path=path)
        assert response_.status_code == 200 and response_.json()["object"] == "response.compaction"
    assert [r.path for r in openai_fake.requests] == ["/v1/responses/compact"] * 2
    drain_sync()
    assert {(log.input_tokens, log.output_tokens) for log in UsageLog.objects.all()} == {(30, 8)}


def test_the_route_without_v1(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai")
    assert openai_sdk(setup, prefix="").responses.create(model=MODEL, input="x").output_text
    assert openai_fake.requests[0].path == "/v1/responses"


def test_base_url_ending_in_responses(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url + "/v1/responses", platform="openai")
    openai_sdk(setup).responses.create(model=MODEL, input="x")
    assert openai_fake.requests[0].path == "/v1/responses"


def test_mapped_model_comes_back_in_json_and_events(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai",
                       account_fields={"model_mapping": {"codex-house": "gpt-5.1-codex"}})
    openai_fake.reply(Reply(body=response(model="gpt-5.1-codex")),
                      Reply(events=response_events(model="gpt-5.1-codex")))
    client = openai_sdk(setup)
    assert client.responses.create(model="codex-house", input="x").model == "codex-house"
    events = list(client.responses.create(model="codex-house", input="x", stream=True))
    assert {e.response.model for e in events if hasattr(e, "response")} == {"codex-house"}
    assert [r.json["model"] for r in openai_fake.requests] == ["gpt-5.1-codex"] * 2
    drain_sync()
    assert {log.upstream_model for log in UsageLog.objects.all()} == {"gpt-5.1-codex"}


@pytest.mark.parametrize(("body", "message"), [
    ({"input": "x"}, "model is required"),
    ({"model": MODEL, "input": "x", "stream": 1}, "stream must be a boolean"),
    ({"model": MODEL, "input": "x", "previous_response_id": "msg_123"},
     "previous_response_id must be a response id (resp_...), a message id was given"),
    ({"model": MODEL, "input": "x", "previous_response_id": 7},
     "previous_response_id must be a response id (resp_...), not one was given"),
    ({"model": MODEL, "input": "x", "background": True}, "Background responses are not supported by this gateway"),
    ({"model": MODEL, "input": [{"type": "function_call_output", "output": "42"}]},
     "function_call_output items need the call_id of the function_call they answer"),
    ({"model": MODEL, "input": [{"type": "function_call_output", "call_id": "call_1", "output": "42"}]},
     "No function_call with call_id 'call_1' for this function_call_output: send the function_call item in input "
     "too, or previous_response_id of the response that made the call"),
])
def test_body_checks_are_openai_shaped_400s(openai_fake, gateway_url, body, message):
    setup = make_setup(openai_fake.url, platform="openai")
    response_ = post(gateway_url, setup, body)
    assert response_.status_code == 400
    assert response_.json()["error"] == {"message": message, "type": "invalid_request_error", "param": None,
                                         "code": None}
    assert openai_fake.requests == []


def test_tool_outputs_with_their_context_pass(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai")
    output = {"type": "function_call_output", "call_id": "call_1", "output": "42"}
    call = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    for body in ({"model": MODEL, "input": [call, output]},
                 {"model": MODEL, "input": [output], "previous_response_id": "resp_abc"},
                 {"model": MODEL, "input": [{"type": "item_reference", "id": "fc_1"}, output]}):
        assert post(gateway_url, setup, body).status_code == 200, body
    assert len(openai_fake.requests) == 3


def test_an_error_event_inside_the_stream_is_relayed(openai_fake, gateway_url):
    events = response_events(model=MODEL)[:3] + [("error", {"type": "error", "code": "server_error",
                                                            "message": "boom", "param": None, "sequence_number": 3})]
    openai_fake.reply(Reply(events=events))
    setup = make_setup(openai_fake.url, platform="openai")
    with httpx.stream("POST", gateway_url + "/v1/responses", json={"model": MODEL, "input": "x", "stream": True},
                      headers={"authorization": f"Bearer {setup.raw_key}"}) as r:
        raw = r.read()
    assert raw == b"".join(encode(name, data) for name, data in events)  # no second error of the gateway's


def test_a_stream_cut_short_ends_with_a_responses_error_event(openai_fake, gateway_url, openai_sdk):
    openai_fake.reply(Reply(events=response_events(model=MODEL)[:4]))
    setup = make_setup(openai_fake.url, platform="openai")
    with pytest.raises(openai.APIError) as caught:
        list(openai_sdk(setup).responses.create(model=MODEL, input="x", stream=True))
    assert caught.value.message == "Upstream stream ended unexpectedly"


def test_models_list_and_retrieve(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai")
    client = openai_sdk(setup)
    ids = [m.id for m in client.models.list()]
    assert "gpt-5.1" in ids and "gpt-4o-mini" in ids and not any(i.startswith("claude") for i in ids)
    assert client.models.retrieve("gpt-5.1").model_dump() == {"id": "gpt-5.1", "object": "model",
                                                              "created": 1762992000, "owned_by": "openai"}
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("claude-sonnet-4-5")
    assert caught.value.body["type"] == "not_found_error"
    mapped = make_setup(openai_fake.url, platform="openai",
                        account_fields={"model_mapping": {"house-a": "gpt-5", "house-b": "gpt-5"}})
    assert [m.id for m in openai_sdk(mapped).models.list()] == ["house-a", "house-b"]
    assert openai_fake.requests == []


def test_an_anthropic_key_lists_claude_models_still(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    listed = httpx.get(gateway_url + "/v1/models", headers={"x-api-key": setup.raw_key}).json()
    assert all(m["id"].startswith("claude") for m in listed["data"])
    one = httpx.get(gateway_url + "/v1/models/claude-sonnet-4-5-20250929", headers={"x-api-key": setup.raw_key})
    assert one.json()["display_name"] == "Claude Sonnet 4.5"
    missing = httpx.get(gateway_url + "/v1/models/gpt-5", headers={"x-api-key": setup.raw_key})
    assert missing.status_code == 404 and missing.json()["type"] == "error"

