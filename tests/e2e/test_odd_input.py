"""Odd client input gets an Anthropic-shaped 4xx (or is relayed), never a 500."""

import json

import httpx
import pytest

from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGE = {"role": "user", "content": "hi"}


def odd_bodies():
    base = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [MESSAGE]}
    yield from (
        {**base, "model": "m" * 100_000},
        {**base, "model": 5},
        {**base, "model": ""},
        {**base, "model": ["claude-sonnet-4-5"]},
        {**base, "stream": "true"},
        {**base, "messages": "hi"},
        {**base, "messages": [None, 1, "x", {"content": {"parts": [1, None]}}]},
        {**base, "messages": [{"role": "user", "content": [None, {"text": 5}, {"type": "text", "text": "x",
                                                                   "cache_control": "ephemeral"}]}]},
        {**base, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}, None, 3]},
        {**base, "system": {"parts": "x"}},
        {**base, "metadata": "user"},
        {**base, "metadata": {"user_id": None}},
        {**base, "metadata": {"user_id": "user_ab_account__session_" + "f" * 10_000}},
        {**base, "metadata": {"user_id": json.dumps({"session_id": "s" * 1000})}},
        {**base, "metadata": {"user_id": "[1, 2]"}},
        {**base, "contents": "x", "systemInstruction": 7},
    )


def test_odd_bodies_never_get_a_500(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    for body in odd_bodies():
        response = httpx.post(gateway_url + "/v1/messages", json=body, headers={"x-api-key": setup.raw_key})
        assert response.status_code < 500, (body, response.text[:200])
        if response.status_code >= 400:
            assert response.json()["type"] == "error", response.text[:200]


@pytest.mark.parametrize("headers", [
    {"authorization": "Bearer"},
    {"authorization": "Basic abc"},
    {"x-api-key": ""},
    {"x-api-key": "sk-" + "x" * 10_000},
    {"x-api-key": "sk-\u00e9\u00e8"},
    {"x-goog-api-key": "not-a-key"},
])
def test_odd_keys_are_401(gateway_url, headers):
    body = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [MESSAGE]}
    encoded = {name: value.encode("latin-1") for name, value in headers.items()}
    response = httpx.post(gateway_url + "/v1/messages", json=body, headers=encoded)
    assert response.status_code == 401, response.text[:200]
    assert response.json()["type"] == "error"


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/v1/usage",
                                  "/v1/chat/completions", "/v1/responses", "/chat/completions", "/responses/compact",
                                  "/v1/models/gpt-5"])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_every_method_on_every_route_answers_in_shape(anthropic_fake, gateway_url, path, method):
    setup = make_setup(anthropic_fake.url)
    response = httpx.request(method, gateway_url + path, headers={"x-api-key": setup.raw_key},
                             content=b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}')
    assert response.status_code < 500, response.text[:200]
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/v1/%ff", "/v1/messages/%00", "/v1/" + "a" * 5000, "/v1/messages/batches"])
def test_unknown_gateway_paths_are_anthropic_404s(gateway_url, path):
    response = httpx.post(gateway_url + path, content=b"{}", headers={"x-api-key": "sk-nope"})
    assert response.status_code == 404
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "not_found_error"


def test_unknown_paths_answer_in_their_callers_protocol(gateway_url):
    openai = httpx.post(gateway_url + "/v1/chat/completions/nope", json={})
    assert openai.status_code == 404 and openai.json()["error"]["type"] == "not_found_error"
    google = httpx.post(gateway_url + "/v1beta/models/x:nope", json={})
    assert google.status_code == 404 and google.json()["error"]["status"] == "NOT_FOUND"
    api = httpx.get(gateway_url + "/api/v1/nope")
    assert api.status_code == 404 and api.json() == {"code": 404, "message": "Not found"}
    page = httpx.get(gateway_url + "/nope")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
