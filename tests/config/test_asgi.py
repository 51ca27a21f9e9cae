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


def test_a_request_served_from_the_caches_never_leaves_the_event_loop(anthropic_fake, gateway_url, monkeypatch,
                                                                      settings):
    """Django's stock request cycle makes two thread hops per request (request_started, response.close);
    the gateway's makes none once the key and the accounts are cached."""
    from asgiref.sync import SyncToAsync

    # The batched last-use flush (one hop every LAST_USED_FLUSH_INTERVAL, not per request) must not fall
    # inside the measured requests on a slow machine.
    settings.LAST_USED_FLUSH_INTERVAL = 3600

    setup = make_setup(anthropic_fake.url)
    headers = {"x-api-key": setup.raw_key}
    body = {**BODY, "stream": False}
    assert httpx.post(gateway_url + "/v1/messages", json=body, headers=headers).status_code == 200
    executor = SyncToAsync.single_thread_executor
    hops = []
    submit = executor.submit
    monkeypatch.setattr(executor, "submit", lambda fn, *a, **kw: hops.append(fn) or submit(fn, *a, **kw))
    for stream in (False, True, False):
        response = httpx.post(gateway_url + "/v1/messages", json={**body, "stream": stream}, headers=headers)
        assert response.status_code == 200
    assert hops == []


def test_the_database_thread_gives_its_connection_back(anthropic_fake, gateway_url):
    """The key and the accounts are loaded on asgiref's database thread; nothing holds that thread's
    connection after the loads (no request_finished would ever close it)."""
    from asgiref.sync import SyncToAsync
    from django.db import connection

    setup = make_setup(anthropic_fake.url)
    response = httpx.post(gateway_url + "/v1/messages", json={**BODY, "stream": False},
                          headers={"x-api-key": setup.raw_key})
    assert response.status_code == 200
    assert SyncToAsync.single_thread_executor.submit(lambda: connection.connection is None).result(10)


@pytest.mark.parametrize(("path", "gateway"), [
    ("/v1/chat/completions", True), ("/chat/completions", True), ("/v1/responses", True), ("/responses", True),
    ("/responses/compact", True), ("/v1/models/gpt-5", True), ("/admin/", False), ("/admin/login/", False),
    ("/api/v1/auth/login", False), ("/portal/", False), ("/healthz", False), ("/chat", False),
])
def test_which_paths_the_gateway_handler_serves(path, gateway):
    from config.asgi import is_gateway

    assert is_gateway({"type": "http", "path": path, "method": "POST"}) is gateway


def test_the_site_still_answers_beside_the_unprefixed_openai_routes(gateway_url):
    assert httpx.get(gateway_url + "/admin/login/").status_code == 200
    assert httpx.get(gateway_url + "/api/v1/nope").json() == {"code": 404, "message": "Not found"}
    assert httpx.get(gateway_url + "/responses").json()["error"]["message"] == "Method GET not allowed"
