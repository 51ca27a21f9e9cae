"""What the gateway answers itself, before and around the pipeline: a request id on every answer, a retry
hint on every refusal (x-should-retry, as the Anthropic API sends it), and input that cannot hurt: size
caps before authentication, header limits in the server, strings the usage log could not store."""

import socket
import time

import httpx
import pytest

from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.anthropic import Reply, message, usage
from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def post(gateway_url, key=None, **kwargs):
    headers = {"x-api-key": key} if key else {}
    return httpx.post(gateway_url + "/v1/messages", headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


def test_every_answer_carries_the_request_id_its_usage_log_has(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(body=message(usage_=usage(input=5, output=2)), headers={"request-id": "req_up"}))
    response = post(gateway_url, setup.raw_key, json=BODY)
    ours = response.headers["x-subrelay-request-id"]
    assert response.headers["request-id"] == "req_up"  # the upstream's own id is kept
    drain_sync()
    assert UsageLog.objects.get().request_id == f"client:{ours}"
    refused = post(gateway_url, json=BODY)
    assert refused.headers["request-id"] == f"req_{refused.headers['x-subrelay-request-id']}"


@pytest.mark.parametrize(("kind", "status", "retry"), [
    ("no key", 401, "false"), ("wrong key", 401, "false"), ("disabled key", 401, "false"),
    ("exhausted quota", 429, "false"), ("bad body", 400, "false"), ("too large", 413, "false"),
    ("unknown path", 404, "false"), ("no account", 503, "true"), ("busy", 429, "true"),
])
def test_refusals_say_whether_a_retry_can_help(anthropic_fake, gateway_url, settings, kind, status, retry):
    from apikeys.models import ApiKey

    setup = make_setup(anthropic_fake.url, user_fields={"concurrency": 1})
    path, key, kwargs = "/v1/messages", setup.raw_key, {"json": BODY}
    if kind == "no key":
        key = None
    elif kind == "wrong key":
        key = "sk-not-a-key"
    elif kind == "disabled key":
        ApiKey.objects.filter(pk=setup.key.pk).update(status="inactive")
        from apikeys import cache

        cache.invalidate_key(setup.key.key_hash)
    elif kind == "exhausted quota":
        setup.key.quota, setup.key.status = 1, "quota_exhausted"
        setup.key.save()
    elif kind == "bad body":
        kwargs = {"content": b"{not json"}
    elif kind == "too large":
        settings.GATEWAY_MAX_BODY_BYTES = 1000
        kwargs = {"content": b"x" * 2000}
    elif kind == "unknown path":
        path = "/v1/messages/batches"
    elif kind == "no account":
        setup.account.schedulable = False
        setup.account.save()
    elif kind == "busy":
        settings.CONCURRENCY_WAIT_TIMEOUT = 0.2
        anthropic_fake.reply(Reply(body=message(), delay=2))
        import threading

        first = threading.Thread(target=lambda: httpx.post(gateway_url + path, json=BODY, timeout=10,
                                                           headers={"x-api-key": key}))
        first.start()
        time.sleep(0.5)
        response = httpx.post(gateway_url + path, headers={"x-api-key": key}, **kwargs)
        first.join()
        drain_sync()
    if kind != "busy":
        response = httpx.post(gateway_url + path, headers={"x-api-key": key} if key else {}, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["x-should-retry"] == retry
    assert ("retry-after" in response.headers) == (retry == "true")
    assert response.json()["error"]["type"]  # Anthropic's shape


def test_an_upstream_refusal_keeps_its_own_hint(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(status=400, body={"type": "error", "error": {"type": "invalid_request_error",
                                                                            "message": "bad"}}))
    response = post(gateway_url, setup.raw_key, json=BODY)
    assert response.status_code == 400 and response.headers["x-should-retry"] == "false"


def test_a_model_name_the_log_cannot_store_is_refused_before_forwarding(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    for body in (b'{"model": "claude-opus-4-1\\ud800", "max_tokens": 5, "messages": []}',
                 b'{"model": "claude-opus-4-1", "metadata": {"user_id": "x\\udfff"}, "messages": []}',
                 b'{"model": "' + b"m" * 300 + b'", "messages": []}'):
        response = post(gateway_url, setup.raw_key, content=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert anthropic_fake.requests == []


def test_more_query_fields_than_django_allows_is_a_400(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    query = "&".join(f"f{i}" for i in range(10_050)).encode()  # 60 KB of URL, within the header cap
    answer = raw_request(gateway_url, b"POST /v1/messages?" + query + b" HTTP/1.1\r\nHost: x\r\nx-api-key: "
                         + setup.raw_key.encode() + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 400") and b"invalid_request_error" in answer


def test_forwarded_client_headers_are_capped(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    post(gateway_url, setup.raw_key, json=BODY, headers={"user-agent": "u" * 20_000})
    assert len(anthropic_fake.requests[0].headers["user-agent"]) == 4096


def raw_request(gateway_url, data: bytes, read_timeout=5.0) -> bytes:
    host, port = gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def test_an_oversized_body_is_refused_from_its_length_before_auth_or_reading(gateway_url, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1_000_000
    started = time.monotonic()
    # 300 MB announced, a few bytes sent: the answer comes at once, nothing is read or authenticated.
    answer = raw_request(gateway_url, b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n"
                                      b"content-type: application/json\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 413") and b"request_too_large" in answer
    assert b"x-should-retry: false" in answer.lower()
    assert time.monotonic() - started < 4  # not waiting for the body (the read timeout is 5 s)


def test_a_chunked_body_is_cut_off_at_the_cap(gateway_url, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 10_000
    chunk = b"x" * 4000
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    answer = raw_request(gateway_url, b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + body)
    assert answer.startswith(b"HTTP/1.1 413")


def test_the_rest_api_has_its_own_smaller_cap(gateway_url, settings):
    settings.SITE_MAX_BODY_BYTES = 1000
    response = httpx.post(gateway_url + "/api/v1/auth/login", content=b"{" + b" " * 5000 + b"}",
                          headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == 413


def test_a_huge_header_block_is_refused_while_it_arrives(gateway_url):
    answer = raw_request(gateway_url, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    answer = raw_request(gateway_url, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431")


def test_a_connection_that_never_finishes_its_headers_is_closed(gateway_url, settings):
    settings.HTTP_HEADER_TIMEOUT = 0.5
    host, port = gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 4


def test_ip_rules_cannot_be_bypassed_with_a_forwarding_header(anthropic_fake, gateway_url, settings):
    setup = make_setup(anthropic_fake.url, key_fields={"ip_whitelist": ["203.0.113.7"]})
    spoofed = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7", "CF-Connecting-IP": "203.0.113.7"}
    refused = post(gateway_url, setup.raw_key, json=BODY, headers=spoofed)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ACCESS_DENIED"
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]  # now the header comes from a proxy we run
    assert post(gateway_url, setup.raw_key, json=BODY, headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    drain_sync()
    assert UsageLog.objects.get().ip_address == "203.0.113.7"
