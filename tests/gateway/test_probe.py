"""Testing an account (gateway.probe, the admin's "Test" action): one minimal request, a plain answer."""

import pytest
from asgiref.sync import async_to_sync

from gateway.probe import probe
from tests.fakes.anthropic import Reply, error
from tests.fakes.bedrock import ACCESS_KEY_ID, API_KEY, SECRET_ACCESS_KEY, BedrockReply

pytestmark = pytest.mark.django_db


def test_a_working_bedrock_account(bedrock_fake, make_account):
    account = make_account(type="bedrock", bedrock_auth_mode="sigv4", aws_access_key_id=ACCESS_KEY_ID,
                           aws_secret_access_key=SECRET_ACCESS_KEY, aws_region="us-east-1")
    result = async_to_sync(probe)(account)
    assert result.ok and result.message.startswith("OK: claude-sonnet-4-5 answered in")
    assert result.upstream_model == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    sent = bedrock_fake.requests[0]
    assert sent.auth == "sigv4" and sent.json["max_tokens"] == 256 and sent.json["messages"][0]["content"] == "hi"


def test_what_failed_is_said_plainly(bedrock_fake, anthropic_fake, make_account):
    wrong = make_account(type="bedrock", bedrock_auth_mode="sigv4", aws_access_key_id=ACCESS_KEY_ID,
                         aws_secret_access_key="wrong", aws_region="us-east-1")
    result = async_to_sync(probe)(wrong)
    assert not result.ok and result.status == 403
    assert result.message.startswith("the upstream refused access (403): UnrecognizedClientException: The request "
                                     "signature we calculated does not match")
    keyless = make_account(type="bedrock", bedrock_auth_mode="apikey", api_key=API_KEY)
    keyless.api_key = ""
    assert async_to_sync(probe)(keyless).message == (
        "the account is missing what it needs: api_key not found in bedrock credentials")
    anthropic_fake.reply(Reply(status=401, body=error("authentication_error", "invalid x-api-key")))
    apikey = make_account(base_url=anthropic_fake.url)
    assert async_to_sync(probe)(apikey).message == "the upstream refused the credentials (401): invalid x-api-key"
    nowhere = make_account(base_url="http://127.0.0.1:9")
    assert async_to_sync(probe)(nowhere).message.startswith("could not reach the upstream")
    mapped = make_account(base_url=anthropic_fake.url, model_mapping={"gpt-4o": "gpt-4o"})
    bedrock_fake.reply(BedrockReply())
    assert "does not serve" in async_to_sync(probe)(
        make_account(type="bedrock", bedrock_auth_mode="apikey", api_key=API_KEY, model_mapping={"gpt-4o": "x"})
    ).message
    assert async_to_sync(probe)(mapped).ok  # the account's own model is the one tried


def test_a_gemini_account_is_tested_in_its_own_protocol(gemini_fake, make_account):
    from tests.fakes.gemini import API_KEY, GeminiReply, key_invalid

    account = make_account(platform="gemini", api_key=API_KEY)
    result = async_to_sync(probe)(account)
    assert result.ok and result.message.startswith("OK: gemini-2.5-flash answered in")
    sent = gemini_fake.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.json["contents"][0]["parts"][0]["text"] == "hi"
    gemini_fake.reply(GeminiReply(status=400, body=key_invalid()))
    refused = async_to_sync(probe)(make_account(platform="gemini", api_key="AIza-wrong"))
    assert not refused.ok and refused.message == (
        "the upstream refused the credentials (400): API key not valid. Please pass a valid API key.")


def test_an_openai_account_is_tested_with_a_minimal_chat_completion(openai_fake, make_account):
    account = make_account(platform="openai", base_url=openai_fake.url, api_key="sk-openai-upstream")
    result = async_to_sync(probe)(account)
    assert result.ok and result.message.startswith("OK: gpt-4o-mini answered in")
    sent = openai_fake.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == "Bearer sk-openai-upstream"
    assert sent.json == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    mapped = make_account(platform="openai", base_url=openai_fake.url + "/v1", model_mapping={"fast": "gpt-5-nano"})
    assert async_to_sync(probe)(mapped).upstream_model == "gpt-5-nano"
    assert openai_fake.requests[1].json["model"] == "gpt-5-nano"


def test_an_openai_failure_is_said_plainly(openai_fake, make_account):
    from tests.fakes.openai import Reply as OpenAIReply
    from tests.fakes.openai import error as openai_error

    openai_fake.reply(OpenAIReply(status=401, body=openai_error("invalid_api_key", "Incorrect API key provided")))
    account = make_account(platform="openai", base_url=openai_fake.url)
    result = async_to_sync(probe)(account)
    assert not result.ok and result.status == 401
    assert result.message == "the upstream refused the credentials (401): Incorrect API key provided"
    keyless = make_account(platform="openai", base_url=openai_fake.url)
    keyless.api_key = ""
    assert async_to_sync(probe)(keyless).message == (
        "the account is missing what it needs: api_key is required for an OpenAI API-key account")
