"""Client dialects, one per protocol the gateway speaks (base.py says what a dialect is).

Each route names its dialect; a path no route serves is answered in the dialect of its caller
(`for_path`). Adding a protocol = one module here, registered below.
"""

import uuid

from django.http import HttpResponse

from gateway.dialects.anthropic import AnthropicMessages
from gateway.dialects.base import Dialect, Inbound, StreamProcessor
from gateway.dialects.gemini import GeminiDialect
from gateway.dialects.openai import OpenAIDialect
from gateway.dialects.openai_chat import OpenAIChat
from gateway.dialects.openai_responses import OpenAIResponses

ANTHROPIC = AnthropicMessages()
OPENAI = OpenAIDialect()
OPENAI_CHAT = OpenAIChat()
OPENAI_RESPONSES = OpenAIResponses()
GEMINI = GeminiDialect()

_OPENAI_PATHS = ("/v1/chat/", "/v1/completions", "/v1/responses", "/v1/embeddings", "/chat/", "/responses")


def for_path(path: str) -> Dialect:
    """The dialect a client of this gateway path speaks: Google's under `/v1beta/` and for Google's
    `/v1/models/{model}:{action}`, OpenAI's for its endpoint names, Anthropic's for the rest."""
    if "/v1beta/" in path or (path.startswith("/v1/models/") and ":" in path):
        return GEMINI
    if path.startswith(_OPENAI_PATHS):
        return OPENAI
    return ANTHROPIC


def for_platform(platform: str | None) -> Dialect:
    """The dialect that lists models and answers platform-wide routes for a group's platform."""
    return {"openai": OPENAI, "gemini": GEMINI}.get(platform or "anthropic", ANTHROPIC)


def not_found(path: str) -> HttpResponse:
    """A gateway path no route serves (config.urls' 404 handler)."""
    from gateway.errors import GatewayError

    response = GatewayError(404, f"Not found: {path[:200]}").response(for_path(path))
    response["request-id"] = f"req_{uuid.uuid4().hex}"
    return response


__all__ = [
    "ANTHROPIC", "GEMINI", "OPENAI", "OPENAI_CHAT", "OPENAI_RESPONSES", "Dialect", "Inbound", "StreamProcessor",
    "for_path", "for_platform", "not_found",
]
