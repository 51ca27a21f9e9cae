"""The one home of gateway error shapes and status codes.

A route raises `GatewayError` (or returns `error_response`) and the protocol of the route decides the
body: Anthropic `{"type":"error","error":{...}}`, OpenAI `{"error":{...}}`, Google
`{"error":{"code":..,"status":..}}`. Key-auth failures carry the reference's code string
(`API_KEY_EXPIRED`, ...) in `error.code`, so scripts written for sub2api can still match on it.
"""

import json

from django.http import HttpResponse

ANTHROPIC, OPENAI, GOOGLE = "anthropic", "openai", "google"

# Anthropic error type per HTTP status (https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_TYPES = {
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
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}


class GatewayError(Exception):
    """A request the gateway answers itself, with a status, a message and optionally a code string."""

    def __init__(self, status: int, message: str, code: str | None = None, error_type: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type

    def response(self, protocol: str = ANTHROPIC) -> HttpResponse:
        return error_response(self.status, self.message, code=self.code, error_type=self.error_type, protocol=protocol)


def error_body(status: int, message: str, *, code=None, error_type=None, protocol=ANTHROPIC) -> dict:
    if protocol == OPENAI:
        error = {"type": error_type or _OPENAI_TYPES.get(status, "api_error"), "message": message}
        error["code"] = code
        return {"error": error}
    if protocol == GOOGLE:
        error = {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}
        if code:
            error["reason"] = code
        return {"error": error}
    error = {"type": error_type or _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}
    if code:
        error["code"] = code
    return {"type": "error", "error": error}


def error_response(status: int, message: str, *, code=None, error_type=None, protocol=ANTHROPIC) -> HttpResponse:
    body = error_body(status, message, code=code, error_type=error_type, protocol=protocol)
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


def sse_error_event(status: int, message: str, *, error_type=None) -> bytes:
    """An error after the stream started: the status line is gone, so it travels as an SSE event."""
    body = error_body(status, message, error_type=error_type)
    return b"event: error\ndata: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


# --- the errors more than one route raises ------------------------------------------------------


def no_available_account(detail: str) -> GatewayError:
    return GatewayError(503, f"No available accounts: {detail}", error_type="api_error")


def upstream_failed() -> GatewayError:
    return GatewayError(502, "Upstream request failed", error_type="upstream_error")


def failover_exhausted(status: int) -> GatewayError:
    """Every account tried failed with `status`. The client must not read an upstream 401/403 as a
    verdict on its own key, so those become 502; limits and overload keep their meaning (spec §2.12)."""
    if status == 429:
        return GatewayError(429, "Upstream rate limit exceeded, please retry later", error_type="rate_limit_error")
    if status == 529:
        return GatewayError(503, "Upstream service overloaded, please retry later", error_type="overloaded_error")
    if status >= 500:
        return GatewayError(502, "Upstream service temporarily unavailable", error_type="upstream_error")
    return GatewayError(502, "Upstream request failed", error_type="upstream_error")


def bad_request(message: str) -> GatewayError:
    return GatewayError(400, message, error_type="invalid_request_error")


# --- answers for paths no route serves ---------------------------------------------------------------
_OPENAI_PATHS = ("/v1/chat/", "/v1/completions", "/v1/responses", "/v1/embeddings")


def protocol_of(path: str) -> str:
    """The protocol a client of this gateway path speaks: Google for Gemini's `/v1beta/` paths, OpenAI
    for its endpoint names, Anthropic for the rest."""
    if "/v1beta/" in path:
        return GOOGLE
    if path.startswith(_OPENAI_PATHS):
        return OPENAI
    return ANTHROPIC


def not_found(path: str) -> HttpResponse:
    return error_response(404, f"Not found: {path[:200]}", protocol=protocol_of(path))
