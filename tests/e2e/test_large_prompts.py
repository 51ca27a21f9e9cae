"""Prompts of 64 MB pass the gateway byte for byte; a body over GATEWAY_MAX_BODY_BYTES is a clean 413."""

import anthropic
import httpx
import pytest

from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)
MB = 1024 * 1024


def test_a_64_mb_prompt_is_relayed_unchanged(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    client = anthropic.Anthropic(base_url=gateway_url, api_key=setup.raw_key, max_retries=0, timeout=120)
    prompt = "x" * (64 * MB)
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": prompt}]
    )
    assert message.type == "message"
    received = anthropic_fake.requests[-1]
    assert len(received.body) > 64 * MB
    assert received.json["messages"][0]["content"] == prompt


def test_a_body_over_the_limit_is_413_in_anthropic_shape(anthropic_fake, gateway_url, settings):
    settings.GATEWAY_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1 * MB
    setup = make_setup(anthropic_fake.url)
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x" * (2 * MB)}]}
    response = httpx.post(gateway_url + "/v1/messages", json=body, headers={"x-api-key": setup.raw_key}, timeout=60)
    assert response.status_code == 413
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "request_too_large"
    assert anthropic_fake.requests == []
