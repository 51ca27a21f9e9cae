"""The OpenAI dialects without a server: the body a streaming chat request goes upstream with, what the
stream processors relay and read, session hints and the error shape."""

import json

import pytest
from django.test import RequestFactory

from gateway.dialects import OPENAI, OPENAI_CHAT, OPENAI_RESPONSES
from gateway.dialects.openai import response_key
from gateway.dialects.openai_chat import ChatStream
from gateway.errors import GatewayError
from tests.fakes.openai import chat_chunks, chat_usage, encode, encode_chat, response_events, responses_usage

factory = RequestFactory()


def read(dialect, body, action="chat", **headers):
    request = factory.post("/v1/x", data=json.dumps(body) if not isinstance(body, bytes) else body,
                           content_type="application/json", **headers)
    return dialect.read(request, action, subpath="")


def feed_in_pieces(processor, raw: bytes, size: int) -> bytes:
    """What the client gets: the relayed bytes, then the terminal event held back until the charge."""
    out = b"".join(processor.feed(raw[i:i + size]) for i in range(0, len(raw), size))
    return out + processor.flush() + processor.held


# --- the upstream body -------------------------------------------------------------------------------------
def test_a_stream_that_did_not_ask_for_usage_asks_upstream_without_reencoding():
    body = b'{"model": "gpt-5",  "stream": true, "messages": [{"role": "user", "content": "\\u00e9"}]}'
    inbound = read(OPENAI_CHAT, body)
    sent = OPENAI_CHAT.body_for(inbound, "gpt-5")
    assert sent == b'{"stream_options":{"include_usage":true},' + body[1:]
    assert json.loads(sent)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("body", "mapped", "options"), [
    ({"model": "gpt-5", "stream": True, "stream_options": {"include_obfuscation": False}}, "gpt-5",
     {"include_obfuscation": False, "include_usage": True}),
    ({"model": "gpt-5", "stream": True, "stream_options": {"include_usage": False}}, "gpt-5", {"include_usage": True}),
    ({"model": "gpt-5", "stream": True, "stream_options": None}, "gpt-5", {"include_usage": True}),
    ({"model": "gpt-5", "stream": True}, "gpt-5.1", {"include_usage": True}),
])
def test_other_stream_options_are_kept(body, mapped, options):
    inbound = read(OPENAI_CHAT, body)
    sent = json.loads(OPENAI_CHAT.body_for(inbound, mapped))
    assert sent == {**body, "model": mapped, "stream_options": options}


@pytest.mark.parametrize("body", [
    {"model": "gpt-5", "messages": []},
    {"model": "gpt-5", "stream": True, "stream_options": {"include_usage": True}},
])
def test_a_body_that_needs_nothing_is_relayed_as_it_is(body):
    inbound = read(OPENAI_CHAT, body)
    assert OPENAI_CHAT.body_for(inbound, "gpt-5") == inbound.body


# --- the chat stream -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_relays_what_the_client_asked_for(size, include_usage):
    events = chat_chunks(texts=("a", "é", "c"), usage_=chat_usage(prompt=50, completion=9, cached=20, reasoning=4))
    processor = ChatStream(hide_usage=not include_usage, model_back=None, started=0)
    out = feed_in_pieces(processor, encode_chat(events, include_usage=True), size)
    assert out == encode_chat(events, include_usage=include_usage)
    usage = processor.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.service_tier) == (
        30, 20, 9, "default")
    assert processor.ended_cleanly


def test_chat_stream_with_spaces_and_crlf_from_a_compatible_server():
    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "qwen", "usage": None,
             "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    tail = {"id": "c1", "object": "chat.completion.chunk", "model": "qwen", "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
    raw = f"data: {json.dumps(chunk)}\r\n\r\ndata: {json.dumps(tail)}\r\n\r\ndata: [DONE]\r\n\r\n".encode()
    processor = ChatStream(hide_usage=True, model_back=None, started=0)
    out = feed_in_pieces(processor, raw, 5)
    expected = {k: v for k, v in chunk.items() if k != "usage"}
    assert out == f"data: {json.dumps(expected)}\n\ndata: [DONE]\n\n".encode()
    assert (processor.usage.input_tokens, processor.usage.output_tokens) == (7, 2)


def test_usage_on_a_content_chunk_is_read_and_taken_out():
    chunk = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    processor = ChatStream(hide_usage=True, model_back=None, started=0)
    out = processor.feed(encode(None, chunk))
    assert json.loads(out.removeprefix(b"data: ")) == {k: v for k, v in chunk.items() if k != "usage"}
    assert processor.usage.output_tokens == 1


def test_the_model_is_put_back_in_every_chunk():
    events = chat_chunks(model="gpt-4.1-mini-2025-04-14")
    processor = ChatStream(hide_usage=True, model_back="house \"model\"", started=0)
    out = feed_in_pieces(processor, encode_chat(events, include_usage=True), 33)
    chunks = [json.loads(b[6:]) for b in out.split(b"\n\n") if b.startswith(b"data: {")]
    assert chunks and {c["model"] for c in chunks} == {'house "model"'}


def test_done_and_anything_after_it_wait_for_the_charge():
    processor = ChatStream(hide_usage=False, model_back=None, started=0)
    raw = encode_chat(chat_chunks(), include_usage=True)
    assert processor.feed(raw + b"data: late\n\n") == raw.removesuffix(b"data: [DONE]\n\n")
    assert processor.held == b"data: [DONE]\n\ndata: late\n\n"


def test_an_upstream_error_chunk_ends_the_stream_cleanly():
    processor = ChatStream(hide_usage=True, model_back=None, started=0)
    error = b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    assert processor.feed(error) == error and processor.ended_cleanly


def test_a_stream_without_done_did_not_end():
    processor = ChatStream(hide_usage=True, model_back=None, started=0)
    processor.feed(encode_chat(chat_chunks()[:-1], include_usage=True))
    assert not processor.ended_cleanly and processor.usage.known


# --- the responses stream -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [3, 100, 100_000])
def test_responses_stream_is_relayed_as_it_is_and_read(size):
    events = response_events(usage_=responses_usage(input=90, cached=30, output=12), response_id="resp_abc",
                             service_tier="priority")
    inbound = read(OPENAI_RESPONSES, {"model": "gpt-4o-mini", "input": "x", "stream": True}, "responses")
    processor = OPENAI_RESPONSES.stream_processor(inbound, "gpt-4o-mini", None)
    raw = b"".join(encode(name, data) for name, data in events)
    assert feed_in_pieces(processor, raw, size) == raw
    usage = processor.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.service_tier) == (
        60, 30, 12, "priority")
    assert processor.ended_cleanly and inbound.produced == response_key("resp_abc")


def test_responses_events_without_event_lines_and_mapped_back():
    events = response_events(model="gpt-5.1-codex")
    inbound = read(OPENAI_RESPONSES, {"model": "house", "input": "x", "stream": True}, "responses")
    processor = OPENAI_RESPONSES.stream_processor(inbound, "gpt-5.1-codex", None)
    out = processor.feed(b"".join(encode(None, data) for _, data in events))
    assert json.loads(processor.held[6:])["type"] == "response.completed"  # sent once charged
    parsed = [json.loads(block[6:]) for block in (out + processor.held).split(b"\n\n") if block]
    assert [p["type"] for p in parsed] == [name for name, _ in events]
    assert {p["response"]["model"] for p in parsed if "response" in p} == {"house"}
    assert processor.ended_cleanly


@pytest.mark.parametrize("terminal", ["response.incomplete", "response.failed"])
def test_other_terminal_events_carry_usage(terminal):
    events = response_events(terminal=terminal, usage_=responses_usage(input=5, output=2))
    inbound = read(OPENAI_RESPONSES, {"model": "gpt-4o-mini", "input": "x", "stream": True}, "responses")
    processor = OPENAI_RESPONSES.stream_processor(inbound, "gpt-4o-mini", None)
    processor.feed(b"".join(encode(name, data) for name, data in events))
    assert processor.ended_cleanly and processor.usage.output_tokens == 2


# --- reading requests, sessions, errors ------------------------------------------------------------------------
class Asgi:
    """What session_hash reads of an ASGI request: its raw headers."""

    def __init__(self, *headers):
        self.scope = {"headers": [(name.encode(), value.encode()) for name, value in headers]}


def test_session_hints_in_their_order():
    keyed = read(OPENAI_RESPONSES, {"model": "gpt-5", "input": "x", "prompt_cache_key": "k"}, "responses")
    plain = read(OPENAI_RESPONSES, {"model": "gpt-5", "input": "x"}, "responses")

    def session(inbound, *headers):
        return OPENAI_RESPONSES.session_hash(inbound, Asgi(*headers), "10.0.0.1", 1)

    assert session(plain) is None
    assert session(keyed) == session(read(OPENAI_CHAT, {"model": "gpt-5", "prompt_cache_key": "k"}))
    assert session(keyed, ("conversation_id", "k")) == session(keyed)  # the same value, the same session
    assert session(keyed, ("conversation_id", "c")) == session(plain, ("conversation-id", "c")) != session(keyed)
    assert session(plain, ("conversation_id", "c"), ("session_id", "s")) == session(plain, ("session_id", "s"))
    assert session(plain, ("session_id", "s")).startswith("openai:")


def test_a_follow_up_names_the_producer_key():
    follow = read(OPENAI_RESPONSES, {"model": "gpt-5", "input": "x", "previous_response_id": "resp_1"}, "responses")
    assert OPENAI_RESPONSES.continues(follow) == response_key("resp_1")
    assert OPENAI_RESPONSES.continues(read(OPENAI_RESPONSES, {"model": "gpt-5"}, "responses")) is None


def test_errors_in_openai_shape():
    assert OPENAI.error_body(401, "Invalid API key", code="INVALID_API_KEY") == {"error": {
        "message": "Invalid API key", "type": "authentication_error", "param": None, "code": "INVALID_API_KEY"}}
    assert OPENAI.error_body(429, "API key 额度已用完", code="API_KEY_QUOTA_EXHAUSTED")["error"] == {
        "message": "API key 额度已用完", "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}
    assert OPENAI.error_body(503, "No available accounts")["error"]["type"] == "api_error"
    chat_event = OPENAI_CHAT.error_event(502, "Upstream stream failed", error_type="api_error")
    assert json.loads(chat_event.removeprefix(b"data: "))["error"]["message"] == "Upstream stream failed"
    responses_event = OPENAI_RESPONSES.error_event(502, "x", error_type="api_error")
    assert responses_event.startswith(b"event: error\ndata: ")
    assert json.loads(responses_event.split(b"data: ")[1])["type"] == "error"
    assert OPENAI.ping_event == b":\n\n"


def test_a_body_too_large_is_a_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    with pytest.raises(GatewayError) as caught:
        read(OPENAI_CHAT, {"model": "gpt-5", "messages": [{"role": "user", "content": "x" * 100}]})
    assert caught.value.status == 413
