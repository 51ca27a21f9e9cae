"""Anthropic SSE relaying (gateway/dialects/anthropic.py): untouched events pass byte for byte, usage is read,
rules rewrite."""

import json

from gateway.dialects.anthropic import MessagesStream as StreamProcessor
from tests.fakes.anthropic import encode_event, stream_events, usage


def raw_stream(**kwargs) -> bytes:
    return b"".join(encode_event(name, data) for name, data in stream_events(**kwargs))


def feed_all(processor, raw: bytes, size: int) -> bytes:
    """What the client gets: the relayed events, then the held-back terminal one (sent after the charge)."""
    out = b"".join(processor.feed(raw[i:i + size]) for i in range(0, len(raw), size))
    return out + processor.flush() + processor.held


def test_untouched_stream_is_identical_whatever_the_chunking():
    raw = raw_stream(usage_=usage(input=12, output=34, cache_read=5))
    for size in (1, 7, 64, len(raw)):
        processor = StreamProcessor()
        assert feed_all(processor, raw, size) == raw
        assert processor.saw_stop
        assert processor.usage.input_tokens == 12
        assert processor.usage.output_tokens == 34
        assert processor.usage.cache_read_tokens == 5


def test_delta_only_overrides_positive_values():
    raw = raw_stream(usage_=usage(input=100, output=1, cache_5m=50),
                     delta_usage={"output_tokens": 9, "input_tokens": 0, "cache_read_input_tokens": 3})
    processor = StreamProcessor()
    feed_all(processor, raw, 50)
    assert processor.usage.input_tokens == 100
    assert processor.usage.output_tokens == 9
    assert processor.usage.cache_read_tokens == 3
    assert processor.usage.cache_creation_5m_tokens == 50


def events_of(out: bytes) -> dict:
    events = {}
    for block in out.split(b"\n\n"):
        if block:
            name = block.split(b"\n")[0][len(b"event: "):].decode()
            events[name] = json.loads(block.split(b"\ndata: ", 1)[1])
    return events


def test_ttl_override_rewrites_message_start_for_client_and_usage_s5_1():
    raw = raw_stream(usage_=usage(cache_5m=1200, cache_1h=300))
    processor = StreamProcessor(ttl_target="1h")
    out = feed_all(processor, raw, 13)
    start = events_of(out)["message_start"]["message"]["usage"]
    assert start["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1500}
    assert start["cache_creation_input_tokens"] == 1500
    assert processor.usage.cache_creation_1h_tokens == 1500
    assert processor.usage.cache_creation_5m_tokens == 0


def test_ttl_override_leaves_event_without_nested_split_untouched_s5_5():
    raw = raw_stream(usage_=usage(cache_creation=700))
    processor = StreamProcessor(ttl_target="1h")
    assert feed_all(processor, raw, 64) == raw


def test_model_is_mapped_back_in_message_start():
    raw = raw_stream(model="upstream-model")
    processor = StreamProcessor(model_back="claude-requested")
    out = feed_all(processor, raw, 64)
    assert events_of(out)["message_start"]["message"]["model"] == "claude-requested"


def test_stream_without_stop_is_noticed():
    raw = b"".join(encode_event(n, d) for n, d in stream_events()[:3])
    processor = StreamProcessor()
    feed_all(processor, raw, 64)
    assert processor.saw_start and not processor.saw_stop


def test_message_stop_is_held_back_until_the_charge():
    raw = raw_stream(usage_=usage(input=1, output=2))
    processor = StreamProcessor()
    out = processor.feed(raw) + processor.flush()
    assert b"message_stop" not in out and processor.held == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert processor.ended_cleanly and out + processor.held == raw
