"""OpenAI's protocol (Chat Completions, Responses): errors `{"error":{"message","type","param","code"}}`,
and the SSE comment line `:` as the ping."""

import json

from gateway.dialects.base import Dialect

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class OpenAIDialect(Dialect):
    name = "openai"
    protocol = "openai"
    platforms = frozenset({"openai"})
    ping_event = b":\n\n"

    def error_body(self, status, message, *, code=None, error_type=None):
        return {"error": {
            "message": message, "type": error_type or ERROR_TYPES.get(status, "api_error"), "param": None,
            "code": code,
        }}

    def error_event(self, status, message, *, error_type=None):
        body = self.error_body(status, message, error_type=error_type)
        return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"
