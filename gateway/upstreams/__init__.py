"""Upstream adapters, one per kind of account (base.py says what an adapter is).

`for_account(account)` is the adapter that serves an account, or None: such an account is never a
candidate. Adding a provider = one module here, registered in ADAPTERS.
"""

from gateway.upstreams.anthropic import AnthropicApiKey
from gateway.upstreams.base import AccountNotReady, Upstream, UpstreamMisconfigured, UpstreamRequest
from gateway.upstreams.bedrock import BedrockApiKey, BedrockSigV4
from gateway.upstreams.claude_oauth import ClaudeOAuth
from gateway.upstreams.gemini import GeminiApiKey
from gateway.upstreams.openai import OpenAIApiKey

ADAPTERS: tuple[Upstream, ...] = (
    AnthropicApiKey(), ClaudeOAuth(), BedrockSigV4(), BedrockApiKey(), GeminiApiKey(), OpenAIApiKey(),
)


def for_account(account) -> Upstream | None:
    return next((adapter for adapter in ADAPTERS if adapter.handles(account)), None)


__all__ = ["ADAPTERS", "AccountNotReady", "Upstream", "UpstreamMisconfigured", "UpstreamRequest", "for_account"]
