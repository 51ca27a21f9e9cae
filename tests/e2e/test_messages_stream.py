"""POST /v1/messages with stream:true, end to end: events as the upstream sent them, as they arrive;
disconnects cancel the upstream and still charge; broken streams; cache-TTL override in events."""

import json
from decimal import Decimal

import anthropic
import httpx
import pytest

from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.anthropic import Reply, encode_event, error, stream_events, usage
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}


def events_of(raw: bytes) -> dict:
    found = {}
    for block in raw.split(b"\n\n"):
        if block.startswith(b"event: "):
            name, data = block.split(b"\n", 1)
            found[name[7:].decode()] = json.loads(data[6:])
    return found


def started(lines) -> str:
    """The first event line other than a ping: on a busy machine the gateway may ping before the upstream
    answers, which is right, and not what these tests look at."""
    for line in lines:
        if line.startswith("event: ") and line != "event: ping":
            return line
    return ""


def test_stream_bytes_are_the_upstreams(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    events = stream_events(usage_=usage(input=20, output=8, cache_read=4))
    anthropic_fake.reply(Reply(events=events))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    assert raw == b"".join(encode_event(name, data) for name, data in events)
    drain_sync()
    log = UsageLog.objects.get()
    assert (log.input_tokens, log.output_tokens, log.cache_read_tokens) == (20, 8, 4)
    assert log.stream and log.first_token_ms is not None


def test_events_the_gateway_cannot_parse_pass_unchanged(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    too_deep = '{"a":' * 100_000  # the parser gives up with RecursionError
    events = [("message_start", too_deep), *stream_events(usage_=usage(input=5, output=2))[1:]]
    anthropic_fake.reply(Reply(events=events))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}) as r:
        raw = r.read()
    assert raw == b"".join(encode_event(name, data) for name, data in events)


def test_sdk_stream_final_message(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(events=stream_events(texts=("a", "b", "c"), usage_=usage(input=3, output=9))))
    client = anthropic.Anthropic(api_key=setup.raw_key, base_url=gateway_url, max_retries=0)
    body = {k: v for k, v in BODY.items() if k != "stream"}
    with client.messages.stream(**body) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "abc"
    assert final.usage.output_tokens == 9 and final.usage.input_tokens == 3


def test_events_reach_the_client_while_the_upstream_holds_back(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}) as r:
        lines = r.iter_lines()
        assert next(lines) == "event: message_start"  # the rest is still held by the fake
        assert not anthropic_fake.requests[0].completed
        anthropic_fake.release()
        rest = list(lines)
    assert "event: message_stop" in rest


def test_a_client_that_hangs_up_still_pays_what_the_upstream_bills(anthropic_fake, gateway_url):
    """The stream is read on after the client left, to its final usage (reference §2.11)."""
    setup = make_setup(anthropic_fake.url, balance="10")
    events = stream_events(model="claude-haiku-4-5", texts=("t",) * 20, usage_=usage(input=1_000_000, output=500))
    anthropic_fake.reply(Reply(events=events, hold_after=21))  # 19 of the 20 deltas, then the upstream waits
    body = {**BODY, "model": "claude-haiku-4-5"}
    with httpx.stream("POST", gateway_url + "/v1/messages", json=body, headers={"x-api-key": setup.raw_key}) as r:
        assert r.status_code == 200, r.read()
        lines = r.iter_lines()  # keep it: a dropped iterator closes the connection
        assert next(lines) == "event: message_start"
    # The client is gone; the gateway keeps its slots and the upstream request until the stream ends.
    assert slot_count(f"user:{setup.user.pk}") == 1
    assert not anthropic_fake.requests[0].disconnected
    anthropic_fake.release()
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)
    assert wait_until(lambda: slot_count(f"account:{setup.account.pk}") == 0)
    assert anthropic_fake.requests[0].completed
    drain_sync()
    log = wait_until(lambda: UsageLog.objects.first())
    assert (log.input_tokens, log.output_tokens, log.usage_incomplete) == (1_000_000, 500, False)
    setup.refresh()
    assert setup.user.balance == Decimal("10") - log.actual_cost == Decimal("10") - Decimal("1.0025")


def test_past_the_drain_limit_what_was_seen_is_charged_and_flagged(anthropic_fake, gateway_url, settings):
    settings.STREAM_DRAIN_TIMEOUT = 0.5
    setup = make_setup(anthropic_fake.url, balance="10")
    events = stream_events(model="claude-haiku-4-5", usage_=usage(input=1_000_000, output=500))
    anthropic_fake.reply(Reply(events=events, hold_after=2))
    body = {**BODY, "model": "claude-haiku-4-5"}
    with httpx.stream("POST", gateway_url + "/v1/messages", json=body, headers={"x-api-key": setup.raw_key}) as r:
        lines = r.iter_lines()
        assert next(lines) == "event: message_start"
    # Then the gateway hangs up on the upstream too, and frees the slots.
    assert wait_until(lambda: anthropic_fake.requests[0].disconnected)
    assert not anthropic_fake.requests[0].completed
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)
    assert wait_until(lambda: slot_count(f"account:{setup.account.pk}") == 0)
    drain_sync()
    log = wait_until(lambda: UsageLog.objects.first())
    assert (log.input_tokens, log.output_tokens, log.usage_incomplete) == (1_000_000, 1, True)  # message_start's
    setup.refresh()
    assert setup.user.balance == Decimal("10") - Decimal("1.000005")


def test_broken_upstream_stream_ends_with_an_error_event_and_charges_known_usage(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(events=stream_events(usage_=usage(input=100)), close_after=3))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}) as r:
        raw = r.read()
    events = events_of(raw)
    assert "message_start" in events and "message_stop" not in events
    assert events["error"]["type"] == "error"
    drain_sync()
    assert UsageLog.objects.get().input_tokens == 100
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)


def test_upstream_error_before_the_stream_is_relayed(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    upstream = error("invalid_request_error", "bad")
    anthropic_fake.reply(Reply(status=400, body=upstream))
    response = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert response.status_code == 400 and response.json() == upstream
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)


def test_model_mapped_back_in_message_start(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, account_fields={"model_mapping": {"claude-sonnet-4-5": "upstream-y"}})
    anthropic_fake.reply(Reply(events=stream_events(model="upstream-y")))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}) as r:
        raw = r.read()
    assert events_of(raw)["message_start"]["message"]["model"] == "claude-sonnet-4-5"
    assert anthropic_fake.requests[0].json["model"] == "upstream-y"


# --- S5 in streams --------------------------------------------------------------------------------


def stream_with_override(anthropic_fake, gateway_url, account_type, override, start_usage, delta_usage=None):
    setup = make_setup(anthropic_fake.url, account_type=account_type, account_fields={"cache_ttl_override": override})
    events = stream_events(usage_=start_usage, delta_usage=delta_usage)
    anthropic_fake.reply(Reply(events=events))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}) as r:
        raw = r.read()
    drain_sync()
    return raw, events, UsageLog.objects.get()


def test_override_1h_rewrites_message_start_s5_1(anthropic_fake, gateway_url):
    raw, events, log = stream_with_override(anthropic_fake, gateway_url, "oauth", "1h",
                                            usage(input=10, cache_5m=1200, cache_1h=300))
    start = events_of(raw)["message_start"]["message"]["usage"]
    assert start["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1500}
    assert start["cache_creation_input_tokens"] == 1500
    assert (log.cache_creation_5m_tokens, log.cache_creation_1h_tokens) == (0, 1500)
    assert log.cache_ttl_overridden
    # Every other event is byte for byte the upstream's.
    for name, data in events:
        if name != "message_start":
            assert encode_event(name, data) in raw
    assert log.cache_creation_cost == Decimal("0.009")  # 1500 × $6/MTok (sonnet 1h)


def test_override_rewrites_message_delta_too(anthropic_fake, gateway_url):
    delta = {"output_tokens": 5, "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 40}}
    raw, _, log = stream_with_override(anthropic_fake, gateway_url, "setup-token", "5m",
                                       usage(cache_1h=40), delta_usage=delta)
    assert events_of(raw)["message_delta"]["usage"]["cache_creation"] == {
        "ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 0}
    assert (log.cache_creation_5m_tokens, log.cache_creation_1h_tokens) == (40, 0)


def test_event_without_nested_split_is_untouched_but_billed_as_target_s5_5(anthropic_fake, gateway_url):
    raw, events, log = stream_with_override(anthropic_fake, gateway_url, "oauth", "1h", usage(cache_creation=500))
    assert raw == b"".join(encode_event(n, d) for n, d in events)
    assert log.cache_creation_1h_tokens == 500 and log.cache_ttl_overridden


def test_no_creation_tokens_no_flag_s5_6(anthropic_fake, gateway_url):
    raw, events, log = stream_with_override(anthropic_fake, gateway_url, "oauth", "1h", usage(input=5))
    assert raw == b"".join(encode_event(n, d) for n, d in events)
    assert not log.cache_ttl_overridden


def test_apikey_account_never_overrides_s5_7(anthropic_fake, gateway_url):
    raw, events, log = stream_with_override(anthropic_fake, gateway_url, "apikey", "1h",
                                            usage(cache_5m=1200, cache_1h=300))
    assert raw == b"".join(encode_event(n, d) for n, d in events)
    assert not log.cache_ttl_overridden
    assert (log.cache_creation_5m_tokens, log.cache_creation_1h_tokens) == (1200, 300)


def test_quiet_upstream_gets_keepalive_pings_to_the_client(anthropic_fake, gateway_url, settings):
    settings.STREAM_KEEPALIVE_INTERVAL = 0.05
    setup = make_setup(anthropic_fake.url)
    events = stream_events()
    anthropic_fake.reply(Reply(events=events, hold_after=1))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key}) as r:
        lines = r.iter_lines()
        assert started(lines) == "event: message_start"
        seen = [next(lines) for _ in range(5)]  # data line, blank, then a ping from the gateway
        anthropic_fake.release()
        seen += list(lines)
    assert "event: ping" in seen[:5]
    assert seen.count("event: message_stop") == 1


def test_stream_waiting_for_a_user_slot_gets_pings_then_the_answer(anthropic_fake, gateway_url, settings):
    settings.CONCURRENCY_PING_INTERVAL = 0.05
    setup = make_setup(anthropic_fake.url, user_fields={"concurrency": 1})
    headers = {"x-api-key": setup.raw_key}
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1), Reply(events=stream_events(texts=("late",))))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as first:
        first_lines = first.iter_lines()
        assert started(first_lines) == "event: message_start"  # holds the user's only slot
        with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as second:
            assert second.status_code == 200
            second_lines = second.iter_lines()
            assert next(second_lines) == "event: ping"  # the answer started while it waits
            anthropic_fake.release()
            rest = list(first_lines)
            later = list(second_lines)
    assert "event: message_stop" in rest
    assert "event: message_start" in later and "event: message_stop" in later
    assert len(anthropic_fake.requests) == 2
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)
    drain_sync()
    assert UsageLog.objects.count() == 2


def test_stream_waiting_for_a_busy_account_gets_pings_then_the_answer(anthropic_fake, gateway_url, settings):
    settings.CONCURRENCY_PING_INTERVAL = 0.05
    setup = make_setup(anthropic_fake.url, account_fields={"concurrency": 1})
    headers = {"x-api-key": setup.raw_key}
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1), Reply(events=stream_events(texts=("late",))))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as first:
        first_lines = first.iter_lines()
        assert started(first_lines) == "event: message_start"  # holds the account's only slot
        with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as second:
            second_lines = second.iter_lines()
            assert next(second_lines) == "event: ping"  # queued for the account, the client hears pings
            assert len(anthropic_fake.requests) == 1
            anthropic_fake.release()
            list(first_lines)
            later = list(second_lines)
    assert "event: message_start" in later and "event: message_stop" in later
    assert wait_until(lambda: slot_count(f"account:{setup.account.pk}") == 0)
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)


def test_client_leaving_while_queued_for_an_account_frees_everything(anthropic_fake, gateway_url, settings):
    settings.CONCURRENCY_PING_INTERVAL = 0.05
    setup = make_setup(anthropic_fake.url, account_fields={"concurrency": 1})
    headers = {"x-api-key": setup.raw_key}
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1), Reply(events=stream_events()))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as first:
        first_lines = first.iter_lines()
        assert started(first_lines) == "event: message_start"
        with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as second:
            assert next(second.iter_lines()) == "event: ping"
        # the second client is gone while queued
        assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 1)
        anthropic_fake.release()
        list(first_lines)
    assert wait_until(lambda: slot_count(f"account:{setup.account.pk}") == 0)
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)
    assert len(anthropic_fake.requests) == 1  # the abandoned request never reached the upstream


def test_stream_waiting_in_vain_ends_with_an_error_event(anthropic_fake, gateway_url, settings):
    settings.CONCURRENCY_PING_INTERVAL = 0.05
    settings.CONCURRENCY_WAIT_TIMEOUT = 0.3
    setup = make_setup(anthropic_fake.url, user_fields={"concurrency": 1})
    headers = {"x-api-key": setup.raw_key}
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1))
    with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as first:
        first_lines = first.iter_lines()
        assert started(first_lines) == "event: message_start"
        with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers) as second:
            raw = second.read()
        anthropic_fake.release()
        list(first_lines)
    assert raw.startswith(b"event: ping")
    error = events_of(raw)["error"]
    assert error["error"]["type"] == "rate_limit_error"
    assert len(anthropic_fake.requests) == 1
    assert wait_until(lambda: slot_count(f"user:{setup.user.pk}") == 0)
