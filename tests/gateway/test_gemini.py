"""The Gemini dialect and the AI Studio adapter on their own: usage, the stream processor in both client
formats, what Google's 429s and 400s mean for an account, the upstream request, the session hash."""

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from billing.cost import Usage
from gateway.dialects import GEMINI, Inbound
from gateway.dialects.gemini import GeminiArrayStream, GenerateStream, read_usage
from gateway.upstreams.gemini import GeminiApiKey, gemini_reset, next_daily_reset
from tests.fakes.gemini import error, key_invalid, rate_limited, sse, stream_chunks, usage_metadata

PACIFIC = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


def test_usage_subtracts_the_cache_and_adds_the_thoughts():
    usage = read_usage(usage_metadata(prompt=1000, candidates=200, cached=300, thoughts=50))
    assert usage == Usage(input_tokens=700, output_tokens=250, cache_read_tokens=300)
    assert read_usage({"promptTokenCount": "12"}) == Usage(input_tokens=12)
    assert read_usage(None) == Usage()


def feed_bytewise(processor, raw: bytes) -> bytes:
    """What the client gets: the relayed chunks, then the held-back last one (sent after the charge)."""
    out = b"".join(processor.feed(raw[i:i + 1]) for i in range(len(raw)))
    return out + processor.flush() + processor.held


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_sse_is_relayed_unchanged_whatever_the_chunking_and_the_last_usage_counts(newline):
    chunks = stream_chunks(texts=("a", "b", "c"), usage_=usage_metadata(prompt=40, candidates=9, cached=4, thoughts=1))
    raw = sse(chunks).replace(b"\r\n", newline)
    processor = GenerateStream()
    assert feed_bytewise(processor, raw) == raw
    assert processor.ended_cleanly and processor.first_token_ms is not None
    assert processor.usage == Usage(input_tokens=36, output_tokens=10, cache_read_tokens=4)


def test_a_stream_without_its_finishing_chunk_did_not_end_cleanly():
    processor = GenerateStream()
    processor.feed(sse(stream_chunks(texts=("a", "b", "c"))[:2]))
    assert not processor.ended_cleanly
    assert processor.usage.input_tokens == 12  # the running usage seen so far


def test_an_upstream_error_event_ends_the_stream():
    processor = GenerateStream()
    processor.feed(b'data: {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}\r\n\r\n')
    assert processor.ended_cleanly and processor.saw_error


def test_the_array_format_is_valid_json_at_every_ending():
    chunks = stream_chunks(texts=("x", "y"))
    whole = GeminiArrayStream()
    out = feed_bytewise(GenerateStream(array=whole), sse(chunks))
    assert json.loads(out) == chunks
    cut = GeminiArrayStream()
    processor = GenerateStream(array=cut)
    out = processor.feed(sse(chunks[:1])) + processor.flush()
    assert not processor.ended_cleanly
    out += cut.error_event(502, "Upstream stream ended unexpectedly")
    assert json.loads(out)[-1]["error"]["message"] == "Upstream stream ended unexpectedly"
    early = GeminiArrayStream()
    assert json.loads(early.ping_event + early.error_event(429, "busy")) == [
        {"error": {"code": 429, "message": "busy", "status": "RESOURCE_EXHAUSTED"}}]
    assert early.error_event(500, "again") == b""  # the array is closed


def test_a_mapped_model_is_renamed_back_in_every_event():
    processor = GenerateStream(model_back="fast")
    out = processor.feed(sse(stream_chunks(model="gemini-2.5-flash"))) + processor.flush() + processor.held
    events = [json.loads(e[6:]) for e in out.split(b"\r\n\r\n") if e]
    assert [e["modelVersion"] for e in events] == ["fast"] * 3


def test_errors_carry_the_gateway_code_in_message_and_details():
    body = GEMINI.error_body(429, "API key 额度已用完", code="API_KEY_QUOTA_EXHAUSTED")
    assert body == {"error": {
        "code": 429, "message": "API key 额度已用完 (API_KEY_QUOTA_EXHAUSTED)", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_QUOTA_EXHAUSTED",
                     "domain": "subrelay"}]}}


# --- what Google's errors mean --------------------------------------------------------------------------
def reset(body, headers=None, now=NOW):
    return gemini_reset(headers or {}, json.dumps(body).encode(), now)


def test_retry_info_gives_the_reset():
    assert reset(rate_limited(retry_delay="37.5s")) == NOW + timedelta(seconds=37.5)


def test_a_daily_quota_lasts_until_the_next_pacific_midnight():
    assert reset(rate_limited(retry_delay="20s", daily=True)) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # PST
    summer = datetime(2026, 7, 1, 6, 59, tzinfo=UTC)  # still June 30th in California (PDT)
    assert reset(rate_limited(daily=True), now=summer) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    # The night clocks go forward: midnight is still midnight.
    assert next_daily_reset(datetime(2026, 3, 8, 9, 0, tzinfo=UTC)).astimezone(PACIFIC).hour == 0


def test_the_message_then_retry_after_then_five_minutes():
    assert reset(error(429, "Quota exceeded. Please retry in 1.5s.")) == NOW + timedelta(seconds=1.5)
    assert reset(error(429, "please retry in 800ms")) == NOW + timedelta(seconds=0.8)
    assert reset(error(429, "Resource exhausted"), {"retry-after": "30"}) == NOW + timedelta(seconds=30)
    assert reset(error(429, "Resource exhausted")) == NOW + timedelta(minutes=5)
    assert gemini_reset({}, b"not json", NOW) == NOW + timedelta(minutes=5)


def test_a_refused_key_counts_as_a_401_and_other_400s_stay_the_clients():
    adapter = GeminiApiKey()
    assert adapter.failover_status(400, json.dumps(key_invalid()).encode()) == 401
    assert adapter.failover_status(400, json.dumps(error(400, "contents is not specified")).encode()) == 400
    assert adapter.failover_status(503, b"") == 503


# --- the upstream request -------------------------------------------------------------------------------
def account(**fields):
    defaults = {"base_url": "", "api_key": "AIza-upstream", "model_mapping": {}, "allowed_models": [],
                "platform": "gemini", "type": "apikey"}
    values = {**defaults, **fields}
    acct = SimpleNamespace(**values)
    acct.supports_model = lambda model: True
    acct.mapped_model = lambda model: values["model_mapping"].get(model, model)
    return acct


def inbound(action="generateContent", headers=None):
    data = {"contents": []}
    return Inbound(dialect=GEMINI, action=action, endpoint="", body=json.dumps(data).encode(), data=data,
                   model="gemini-2.5-flash", stream=action == "streamGenerateContent", headers=headers or {})


def test_the_request_is_built_explicitly(settings):
    settings.GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
    adapter = GeminiApiKey()
    call = adapter.request(inbound(headers={"user-agent": "cli/1"}), account(), "gemini-2.5-flash", b"{}")
    assert call.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert call.headers == {"user-agent": "cli/1", "content-type": "application/json",
                            "x-goog-api-key": "AIza-upstream", "accept-encoding": "identity"}
    stream = adapter.request(inbound("streamGenerateContent"), account(base_url="https://relay.example/v1beta/"),
                             "gemini-2.5-pro", b"{}")
    assert stream.url == "https://relay.example/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


def test_the_mapping_may_name_the_model_googles_way():
    adapter = GeminiApiKey()
    assert adapter.model_for(account(model_mapping={"fast": "models/gemini-2.5-flash"}), "fast") == "gemini-2.5-flash"


def test_a_missing_key_is_a_misconfiguration():
    from gateway.upstreams import UpstreamMisconfigured

    with pytest.raises(UpstreamMisconfigured):
        GeminiApiKey().request(inbound(), account(api_key=""), "gemini-2.5-flash", b"{}")


# --- sticky sessions ------------------------------------------------------------------------------------
def session(text, user="", action="generateContent", key_id=1):
    data = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    item = Inbound(dialect=GEMINI, action=action, endpoint="", body=json.dumps(data).encode(), data=data,
                   model="gemini-2.5-flash", stream=False, params={"cli_user": user})
    return GEMINI.session_hash(item, SimpleNamespace(headers={}), "10.0.0.1", key_id)


def test_the_cli_project_names_the_session_whatever_the_conversation_says():
    project = ".gemini/tmp/" + "c" * 64
    first = session(f"{project} hello", user="u1")
    assert first == session(f"{project} a later turn", user="u1")
    assert first.startswith("gemini:")
    assert first != session(f"{project} hello", user="u2")
    assert first != session(f"{project} hello", user="u1", key_id=2)


def test_without_cli_hints_the_generic_hash_and_count_tokens_has_none():
    assert session("hello") == session("hello") != session("other")
    assert session("hello").startswith("gemini:")
    assert session("hello", action="countTokens") is None


def test_the_finishing_chunk_is_held_back_until_the_charge():
    chunks = stream_chunks(texts=("a", "b"))
    processor = GenerateStream()
    out = processor.feed(sse(chunks)) + processor.flush()
    assert b"finishReason" not in out and b"finishReason" in processor.held
    array = GeminiArrayStream()
    processor = GenerateStream(array=array)
    out = processor.feed(sse(chunks)) + processor.flush()
    assert not out.endswith(b"]") and processor.held.endswith(b"]")
    assert json.loads(out + processor.held) == chunks
