"""The gateway's ASGI handler: no thread per request (Django's default starts one per request)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fakes.anthropic import Reply, stream_events
from tests.live import make_setup, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
STREAMS = 20


def test_open_streams_do_not_hold_a_thread_each(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, user_fields={"concurrency": 0}, account_fields={"concurrency": 0})
    headers = {"x-api-key": setup.raw_key}
    warm = httpx.post(gateway_url + "/v1/messages", json={**BODY, "stream": False}, headers=headers)
    assert warm.status_code == 200
    anthropic_fake.reply(*[Reply(events=stream_events(), hold_after=1) for _ in range(STREAMS)])
    before = threading.active_count()
    started = threading.Barrier(STREAMS + 1)

    def hold_one():
        with httpx.stream("POST", gateway_url + "/v1/messages", json=BODY, headers=headers, timeout=30) as response:
            lines = response.iter_lines()
            assert next(lines) == "event: message_start"
            started.wait(30)
            return sum(1 for line in lines if line == "event: message_stop")

    with ThreadPoolExecutor(STREAMS) as pool:
        futures = [pool.submit(hold_one) for _ in range(STREAMS)]
        started.wait(30)  # every stream is open, its first event received
        # The client side adds STREAMS threads itself; the gateway must add (next to) none.
        during = threading.active_count() - STREAMS - before
        anthropic_fake.release()
        assert [f.result() for f in futures] == [1] * STREAMS
    assert during < 5, f"the gateway holds {during} extra threads for {STREAMS} open streams"
    assert wait_until(lambda: len(anthropic_fake.requests) == STREAMS + 1)
