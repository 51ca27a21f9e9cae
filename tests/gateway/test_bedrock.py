"""Bedrock request rules on plain data (reference §4): model ids by region, the body Bedrock accepts,
the event-stream decoder. End to end with the fake Bedrock: tests/e2e/test_bedrock.py."""

import json

import pytest

from gateway.upstreams import bedrock
from gateway.upstreams.bedrock import EventStreamDecoder, bedrock_body, resolve_model_id
from tests.fakes.bedrock import chunk_frame, exception_frame


@pytest.mark.parametrize(("model", "region", "force", "expected"), [
    ("claude-sonnet-4-5", "us-east-1", False, "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("claude-sonnet-4-5-20250929", "eu-central-1", False, "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("claude-haiku-4-5", "ap-northeast-1", False, "jp.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("claude-haiku-4-5", "ap-southeast-2", False, "au.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("claude-haiku-4-5", "ap-south-1", False, "apac.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("claude-opus-4-6", "us-gov-west-1", False, "us-gov.anthropic.claude-opus-4-6-v1"),
    ("claude-opus-4-6", "ca-central-1", False, "us.anthropic.claude-opus-4-6-v1"),
    ("claude-opus-4-6", "sa-east-1", True, "global.anthropic.claude-opus-4-6-v1"),
    ("us.anthropic.claude-opus-4-5-20251101-v1:0", "eu-west-1", False, "eu.anthropic.claude-opus-4-5-20251101-v1:0"),
    ("anthropic.claude-3-haiku-20240307-v1:0", "eu-west-1", False, "anthropic.claude-3-haiku-20240307-v1:0"),
    ("arn:aws:bedrock:us-east-1:123:inference-profile/x", "us-east-1", False,
     "arn:aws:bedrock:us-east-1:123:inference-profile/x"),
    ("gpt-4o", "us-east-1", False, None),
])
def test_model_ids_follow_the_region(model, region, force, expected):
    assert resolve_model_id(model, region, force) == expected


def test_the_url_escapes_the_id(settings):
    settings.BEDROCK_ENDPOINT = "https://bedrock-runtime.{region}.amazonaws.com"

    class Acct:
        aws_region = "eu-west-1"

    url = bedrock.BedrockApiKey().url(Acct(), "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", stream=True)
    assert url == ("https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
                   "eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream")


def body(data, beta="", model_id="us.anthropic.claude-sonnet-4-5-20250929-v1:0"):
    return json.loads(bedrock_body(data, beta, model_id))


@pytest.mark.django_db
def test_the_body_bedrock_accepts():
    data = {
        "model": "claude-sonnet-4-5", "stream": True, "output_config": {"effort": "high"}, "max_tokens": 10,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "t", "input_schema": {}, "custom": {"x": 1}, "cache_control": {"type": "ephemeral",
                                                                                          "scope": "x", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    out = body(data, beta="context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14,advanced-tool-use-2025-11-20")
    assert out["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in out and "stream" not in out and "output_config" not in out
    # Only whitelisted betas, renamed where Bedrock names them otherwise, plus the ones the body needs.
    assert out["anthropic_beta"] == ["context-1m-2025-08-07", "tool-search-tool-2025-10-19",
                                     "interleaved-thinking-2025-05-14"]
    assert "custom" not in out["tools"][0]
    assert out["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}  # Claude 4.5 keeps ttl
    assert data["stream"] is True and "custom" in data["tools"][0]  # the client's request is left alone


@pytest.mark.django_db
def test_cache_ttl_is_dropped_before_claude_4_5_and_betas_may_come_as_json():
    data = {"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x",
                                                       "cache_control": {"type": "ephemeral", "ttl": "5m"}}]}]}
    out = body(data, beta='["context-management-2025-06-27"]', model_id="us.anthropic.claude-sonnet-4-20250514-v1:0")
    assert out["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert out["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert out["anthropic_beta"] == ["context-management-2025-06-27"]


@pytest.mark.django_db
def test_output_format_becomes_an_instruction_and_context_management_needs_its_beta():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    data = {"output_format": {"type": "json_schema", "schema": schema}, "context_management": {"edits": []},
            "messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                         {"role": "user", "content": "last"}]}
    out = body(data)
    assert "output_format" not in out and "context_management" not in out and "anthropic_beta" not in out
    last = out["messages"][-1]["content"]
    assert last[0] == {"type": "text", "text": "last"} and json.dumps(schema) in last[1]["text"]
    assert out["messages"][0]["content"] == "first"


def sse_events(raw: bytes) -> list[dict]:
    return [json.loads(block.split(b"data: ", 1)[1]) for block in raw.split(b"\n\n") if block]


def test_decoder_turns_frames_into_anthropic_events_whatever_the_chunking():
    stop = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5, "outputTokenCount": 2}}
    stream = chunk_frame({"type": "message_start", "message": {"usage": {"input_tokens": 5}}}) + chunk_frame(stop)
    for size in (1, 13, len(stream)):
        decode = EventStreamDecoder()
        out = b"".join(decode(stream[i:i + size]) for i in range(0, len(stream), size))
        assert out.startswith(b"event: message_start\ndata: ")
        assert sse_events(out) == [{"type": "message_start", "message": {"usage": {"input_tokens": 5}}},
                                   {"type": "message_stop"}]


def test_metrics_become_usage_where_a_delta_has_none():
    decode = EventStreamDecoder()
    out = decode(chunk_frame({"type": "message_delta", "delta": {},
                              "amazon-bedrock-invocationMetrics": {"inputTokenCount": 9, "outputTokenCount": 4}}))
    assert sse_events(out) == [{"type": "message_delta", "delta": {}, "usage": {"input_tokens": 9, "output_tokens": 4}}]


def test_exception_and_broken_frames_become_one_error_event():
    out = EventStreamDecoder()(exception_frame("validationException", "bad input"))
    assert out.startswith(b"event: error\n")
    assert sse_events(out)[0]["error"] == {"type": "invalid_request_error", "message": "validationException: bad input"}
    decode = EventStreamDecoder()
    broken = bytearray(chunk_frame({"type": "ping"}))
    broken[-1] ^= 0xFF  # the message CRC no longer matches
    out = decode(bytes(broken))
    assert sse_events(out)[0]["error"]["type"] == "api_error"
    assert decode(chunk_frame({"type": "ping"})) == b""  # nothing after a broken frame


def test_each_frame_is_read_by_its_own_headers_when_header_blocks_repeat(monkeypatch):
    """Header blocks are parsed once and remembered: a chunk after an exception of another kind, and an
    exception after many chunks, are still read by their own headers; the memory stays bounded."""
    monkeypatch.setattr(bedrock._RepeatedHeaders, "_parsed", {})
    decode = EventStreamDecoder()
    out = decode(chunk_frame({"type": "ping"}) + chunk_frame({"type": "ping"}))
    assert out == b'event: ping\ndata: {"type":"ping"}\n\n' * 2
    for index in range(bedrock._RepeatedHeaders.LIMIT + 10):
        out = EventStreamDecoder()(exception_frame(f"kind{index}Exception", "x"))
        assert sse_events(out)[0]["error"]["message"] == f"kind{index}Exception: x"
    assert len(bedrock._RepeatedHeaders._parsed) == bedrock._RepeatedHeaders.LIMIT
    assert sse_events(EventStreamDecoder()(chunk_frame({"type": "ping"}))) == [{"type": "ping"}]
