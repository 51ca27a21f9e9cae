"""OpenAI's protocol as its two endpoints share it (Chat Completions: openai_chat.py, Responses:
openai_responses.py): errors `{"error":{"message","type","param","code"}}`, the SSE comment line `:` as
the ping, the model list, the body checks both make (spec §3.2), the sticky session hints, usage.

Usage: OpenAI counts cached prompt tokens inside the prompt count; they are stored as cache reads and
the input as the rest, so the one cost formula bills them at the cached-input price. Reasoning tokens
are inside the output count. The answer's `service_tier` is recorded (priority and flex change the
price, billing.cost).
"""

import hashlib
import json
from datetime import UTC, datetime

from django.http import JsonResponse

from billing.cost import Usage
from core import jsonutil
from gateway.cachettl import as_int
from gateway.dialects.base import Dialect, Inbound, client_headers, read_model_request
from gateway.errors import bad_request

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
# The gateway's own refusals that OpenAI's clients know by OpenAI's name (S7 follow-up: an exhausted key
# quota is `insufficient_quota` on OpenAI routes, so clients such as Codex stop retrying it).
OPENAI_CODES = {"API_KEY_QUOTA_EXHAUSTED": ("insufficient_quota", "insufficient_quota")}
# Client headers worth passing on upstream; the key, the client's organization and project (they name the
# client's own OpenAI account, not ours), cookies and hop-by-hop headers stay here.
PASSTHROUGH_HEADERS = frozenset({"content-type", "accept", "user-agent", "accept-language", "openai-beta"})
# GET /v1/models when the group maps no models: (id, release date).
DEFAULT_MODELS = (
    ("gpt-5.5", "2026-04-23"), ("gpt-5.4", "2026-03-05"), ("gpt-5.4-mini", "2026-03-17"),
    ("gpt-5.4-nano", "2026-03-17"), ("gpt-5.2", "2025-12-11"), ("gpt-5.1", "2025-11-13"),
    ("gpt-5.1-codex", "2025-11-13"), ("gpt-5.1-codex-mini", "2025-11-13"), ("gpt-5", "2025-08-07"),
    ("gpt-5-mini", "2025-08-07"), ("gpt-5-nano", "2025-08-07"), ("gpt-4.1", "2025-04-14"),
    ("gpt-4.1-mini", "2025-04-14"), ("gpt-4o", "2024-05-13"), ("gpt-4o-mini", "2024-07-18"),
    ("o3", "2025-04-16"), ("o4-mini", "2025-04-16"),
)
MAPPED_CREATED = 1704067200  # 2024-01-01: a group's own model names have no release date


def _created(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def digest(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def response_key(response_id: str) -> str:
    """The sticky key binding a response id to the account that produced it."""
    return "openai:response:" + digest(response_id)


# --- usage ---------------------------------------------------------------------------------------------
def _count(value) -> int:
    try:
        return max(as_int(value), 0)
    except OverflowError:
        return 0


def read_usage(data, usage: Usage, prompt: str, completion: str, details: str) -> Usage:
    """An OpenAI usage object (Chat: prompt_tokens / completion_tokens / prompt_tokens_details, Responses:
    input_tokens / output_tokens / input_tokens_details) into `usage`."""
    if not isinstance(data, dict):
        return usage
    total_in = _count(data.get(prompt))
    detail = data.get(details)
    cached = min(_count(detail.get("cached_tokens")), total_in) if isinstance(detail, dict) else 0
    usage.input_tokens = total_in - cached
    usage.cache_read_tokens = cached
    usage.output_tokens = _count(data.get(completion))
    return usage


def read_tier(data: dict, usage: Usage) -> None:
    tier = data.get("service_tier")
    if isinstance(tier, str):
        usage.service_tier = tier[:16]


def dumps(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _session_header(request) -> str | None:
    """`session_id`, else `conversation_id`, as Codex sends them: with an underscore, which Django leaves out
    of request.META (so they are read from the ASGI scope), or with a hyphen."""
    found = {}
    for name, value in getattr(request, "scope", {}).get("headers", ()):
        if name in _SESSION_HEADERS:
            found.setdefault(_SESSION_HEADERS[name], value.decode("latin1"))
    return found.get(0) or found.get(1)


_SESSION_HEADERS = {b"session_id": 0, b"session-id": 0, b"conversation_id": 1, b"conversation-id": 1}


# --- the dialect -----------------------------------------------------------------------------------------
class OpenAIDialect(Dialect):
    """What Chat Completions and Responses share; on its own it lists models and answers unknown paths."""

    name = "openai"
    protocol = "openai"
    platforms = frozenset({"openai"})
    ping_event = b":\n\n"
    probe_model = "gpt-4o-mini"  # an account test asks for a minimal chat completion of it

    # --- reading the request ----------------------------------------------------------------------------
    def read(self, request, action, **path):
        body, data, model = read_model_request(request)
        stream = data.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise bad_request("stream must be a boolean")
        self.check(data)
        inbound = Inbound(
            dialect=self, action=action, endpoint=request.path, body=body, data=data, model=model,
            stream=stream is True, headers=client_headers(request, PASSTHROUGH_HEADERS, "x-stainless-"),
            user_agent=request.META.get("HTTP_USER_AGENT", ""), params=dict(path),
        )
        self.prepare(inbound)
        return inbound

    def check(self, data: dict) -> None:
        """The endpoint's own body checks (raise a 400)."""

    def prepare(self, inbound: Inbound) -> None:
        """What the endpoint notes about a request once it passed the checks."""

    def session_hash(self, inbound, request, client_ip, key_id):
        """Spec §3.2: the `session_id` header, else `conversation_id`, else the body's `prompt_cache_key`, so
        a conversation (and its prompt cache) stays on one account."""
        value = _session_header(request) or inbound.data.get("prompt_cache_key")
        if not isinstance(value, str) or not value.strip():
            return None
        return "openai:" + digest(value.strip())

    # --- answers -----------------------------------------------------------------------------------------
    def models(self, names):
        if names:
            data = [{"id": n, "object": "model", "created": MAPPED_CREATED, "owned_by": "openai"} for n in names]
        else:
            data = [{"id": i, "object": "model", "created": _created(day), "owned_by": "openai"}
                    for i, day in DEFAULT_MODELS]
        return JsonResponse({"object": "list", "data": data})

    def probe_inbound(self, model):
        data = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return Inbound(dialect=self, action="chat", endpoint="", body=json.dumps(data).encode(), data=data,
                       model=model, stream=False)

    def answer_json(self, raw, inbound, mapped_model, ttl_target):
        usage = Usage()
        data = jsonutil.parse(raw)
        if not isinstance(data, dict):
            return raw, usage, False
        self.read_answer(data, usage, inbound)
        read_tier(data, usage)
        if mapped_model != inbound.model and data.get("model") not in (None, inbound.model):
            data["model"] = inbound.model  # the name the client asked for, not the account's mapping
            return json.dumps(data, ensure_ascii=False).encode(), usage, False
        return raw, usage, False

    def read_answer(self, data: dict, usage: Usage, inbound: Inbound) -> None:
        """What the endpoint reads from its JSON answer: usage, and what it produced."""
        raise NotImplementedError

    # --- errors ------------------------------------------------------------------------------------------
    def error_body(self, status, message, *, code=None, error_type=None):
        error_type = error_type or ERROR_TYPES.get(status, "api_error")
        error_type, code = OPENAI_CODES.get(code, (error_type, code))
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def error_event(self, status, message, *, error_type=None):
        return self.stream_error(self.error_body(status, message, error_type=error_type)["error"])

    def relayed_error_event(self, response):
        body = jsonutil.parse(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return self.stream_error(error)
        return super().relayed_error_event(response)

    def stream_error(self, error: dict) -> bytes:
        """An error object as a stream event (the SDKs raise on a data line holding `error`)."""
        return b"data: " + dumps({"error": error}) + b"\n\n"
