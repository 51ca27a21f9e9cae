"""Fixtures of the end-to-end tests: official SDK clients on the live gateway and on the fakes."""

import openai
import pytest


@pytest.fixture
def openai_sdk(gateway_url):
    """openai_sdk(setup): the openai SDK through subrelay with the setup's key (prefix "" for the routes
    without /v1), no retries."""

    def make(setup, prefix="/v1"):
        return openai.OpenAI(api_key=setup.raw_key, base_url=gateway_url + prefix, max_retries=0)

    return make


@pytest.fixture
def openai_direct(openai_fake):
    """The openai SDK straight at the fake OpenAI API: the answers subrelay must give back unchanged."""
    return openai.OpenAI(api_key="sk-direct", base_url=openai_fake.url + "/v1", max_retries=0)
