"""Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`): the dialect of Claude Code and the
anthropic SDKs.

Usage is read from a JSON answer's `usage` and, in a stream, from `message_start` (input, cache) and
`message_delta` (output, and any other count that is > 0). Only those two events are parsed; every
other event is relayed byte for byte. The S5 cache-TTL override rewrites the nested cache-write split,
and a mapped model name is put back to the requested one.
"""

import json

from django.http import JsonResponse

from billing.cost import Usage
from core import jsonutil
from gateway import cachettl, sessions
from gateway.cachettl import FIVE_M, ONE_H, as_int
from gateway.dialects.base import (
    Dialect,
    Inbound,
    SSEProcessor,
    client_headers,
    read_model_request,
    sse_data,
    stored_text,
)

# Client headers worth passing on upstream; everything else (keys, cookies, hop-by-hop, encodings) stays.
PASSTHROUGH_HEADERS = frozenset({
    "anthropic-version", "anthropic-beta", "content-type", "accept", "user-agent", "x-app",
    "anthropic-dangerous-direct-browser-access", "accept-language",
})
# Anthropic error type per HTTP status (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "upstream_error",
    503: "api_error",
    529: "overloaded_error",
}
DEFAULT_MODELS = (
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-01T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-14T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-19T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
)


# --- usage -----------------------------------------------------------------------------------------------
def read_usage(data: dict, usage: Usage | None = None) -> Usage:
    """A JSON body's or `message_start`'s usage object: every field it has (absent counts as 0)."""
    usage = usage or Usage()
    if not isinstance(data, dict):
        return usage
    usage.input_tokens = as_int(data.get("input_tokens"))
    usage.output_tokens = as_int(data.get("output_tokens"))
    usage.cache_read_tokens = as_int(data.get("cache_read_input_tokens") or data.get("cached_tokens"))
    usage.cache_creation_tokens = as_int(data.get("cache_creation_input_tokens"))
    nested = data.get("cache_creation")
    if isinstance(nested, dict):
        usage.cache_creation_5m_tokens = as_int(nested.get(FIVE_M))
        usage.cache_creation_1h_tokens = as_int(nested.get(ONE_H))
    return usage


def merge_delta(data: dict, usage: Usage) -> Usage:
    """`message_delta`'s usage: output tokens, and any other count only when it is > 0."""
    if not isinstance(data, dict):
        return usage
    if "output_tokens" in data:
        usage.output_tokens = as_int(data.get("output_tokens"))
    for name, field in (
        ("input_tokens", "input_tokens"),
        ("cache_read_input_tokens", "cache_read_tokens"),
        ("cache_creation_input_tokens", "cache_creation_tokens"),
    ):
        if (value := as_int(data.get(name))) > 0:
            setattr(usage, field, value)
    nested = data.get("cache_creation")
    if isinstance(nested, dict):
        for name, field in ((FIVE_M, "cache_creation_5m_tokens"), (ONE_H, "cache_creation_1h_tokens")):
            if (value := as_int(nested.get(name))) > 0:
                setattr(usage, field, value)
    return usage


# --- the stream ------------------------------------------------------------------------------------------
_PARSED = (b"message_start", b"message_delta")


def _event_type(block: bytes) -> bytes:
    """The `event:` name of a block, else the JSON `type` seen in its data (cheap substring checks)."""
    if block.startswith(b"event:"):
        end = block.find(b"\n")
        return block[6:end if end >= 0 else None].strip()
    for name in (*_PARSED, b"message_stop", b"error"):
        if b'"type":"' + name + b'"' in block or b'"type": "' + name + b'"' in block:
            return name
    return b""


class MessagesStream(SSEProcessor):
    """Anthropic SSE: split into events, parse the two that carry usage, relay the rest as they are;
    `message_stop` is held back (`held`) until the pipeline has charged."""

    def __init__(self, *, ttl_target: str | None = None, model_back: str | None = None, started: float = 0.0):
        super().__init__(started)
        self.ttl_target = ttl_target
        self.model_back = model_back  # requested model to put back when the account mapped it
        self.saw_start = False
        self.saw_stop = False

    @property
    def ended_cleanly(self) -> bool:
        return self.saw_stop or self.saw_error

    def _event(self, block: bytes) -> bytes:
        kind = _event_type(block)
        if kind == b"message_stop" or self.saw_stop:
            self.saw_stop = True
            self.held += block
            return b""
        if kind == b"error":
            self.saw_error = True
        if kind not in _PARSED:
            return block
        data = sse_data(block)
        event = jsonutil.parse(data) if data else None
        if not isinstance(event, dict):
            return block
        changed = False
        if kind == b"message_start":
            self.saw_start = True
            message = event.get("message") if isinstance(event.get("message"), dict) else {}
            usage = message.get("usage") if isinstance(message.get("usage"), dict) else None
            if usage is not None and self.ttl_target:
                changed |= cachettl.rewrite_nested(usage.get("cache_creation"), self.ttl_target)
            if usage is not None:
                read_usage(usage, self.usage)
            if self.model_back and message.get("model") not in (None, self.model_back):
                message["model"] = self.model_back
                changed = True
        else:
            usage = event.get("usage") if isinstance(event.get("usage"), dict) else None
            if usage is not None and self.ttl_target:
                changed |= cachettl.rewrite_nested(usage.get("cache_creation"), self.ttl_target)
            if usage is not None:
                merge_delta(usage, self.usage)
        if not changed:
            return block
        encoded = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        return b"event: " + kind + b"\ndata: " + encoded + b"\n\n"


# --- the dialect -----------------------------------------------------------------------------------------
class AnthropicMessages(Dialect):
    name = "anthropic"
    protocol = "anthropic"
    platforms = frozenset({"anthropic"})
    ping_event = b'event: ping\ndata: {"type": "ping"}\n\n'
    probe_model = "claude-sonnet-4-5"

    def read(self, request, action, **path):
        body, data, model = read_model_request(request)
        metadata = data.get("metadata")
        if isinstance(metadata, dict):
            for name, value in metadata.items():
                if isinstance(value, str):
                    stored_text(value, f"metadata.{str(name)[:50]}")
        headers = client_headers(request, PASSTHROUGH_HEADERS, prefix="x-stainless-")
        return Inbound(
            dialect=self, action=action, endpoint=request.path, body=body, data=data, model=model,
            stream=data.get("stream") is True and action == "messages", headers=headers,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )

    def session_hash(self, inbound, request, client_ip, key_id):
        if inbound.action != "messages":
            return None
        return sessions.session_hash(inbound.data, request.headers, client_ip, key_id) or None

    def probe_inbound(self, model):
        data = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
        return Inbound(dialect=self, action="messages", endpoint="", body=json.dumps(data).encode(), data=data,
                       model=model, stream=False)

    def answer_json(self, raw, inbound, mapped_model, ttl_target):
        usage = Usage()
        overridden = False
        data = jsonutil.parse(raw)
        if not isinstance(data, dict):
            return raw, usage, overridden
        changed = False
        body_usage = data.get("usage")
        if isinstance(body_usage, dict):
            read_usage(body_usage, usage)
            changed = cachettl.rewrite_json_usage(body_usage, usage, ttl_target)
            overridden = cachettl.apply_to_usage(usage, ttl_target)
        if mapped_model != inbound.model and data.get("model") not in (None, inbound.model):
            data["model"] = inbound.model
            changed = True
        return (json.dumps(data, ensure_ascii=False).encode() if changed else raw), usage, overridden

    def stream_processor(self, inbound, mapped_model, ttl_target):
        model_back = inbound.model if mapped_model != inbound.model else None
        return MessagesStream(ttl_target=ttl_target, model_back=model_back, started=inbound.started)

    def models(self, names):
        if names:
            data = [{"type": "model", "id": n, "display_name": n, "created_at": "2024-01-01T00:00:00Z"} for n in names]
        else:
            data = [{"type": "model", "id": i, "display_name": d, "created_at": c} for i, d, c in DEFAULT_MODELS]
        return JsonResponse({
            "data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        })

    def error_body(self, status, message, *, code=None, error_type=None):
        error = {"type": error_type or ERROR_TYPES.get(status, "api_error"), "message": message}
        if code:
            error["code"] = code
        return {"type": "error", "error": error}

    def error_event(self, status, message, *, error_type=None):
        body = self.error_body(status, message, error_type=error_type)
        return b"event: error\ndata: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

    def relayed_error_event(self, response):
        body = jsonutil.parse(response.content)
        if isinstance(body, dict) and body.get("type") == "error":
            return b"event: error\ndata: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"
        return super().relayed_error_event(response)
