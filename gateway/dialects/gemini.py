"""Google's Gemini protocol (`/v1beta/models/{model}:{action}`): errors `{"error":{"code","message","status"}}`
with the gateway's own reason in `details`, so scripts can tell the gateway's limits from Google's."""

import json

from gateway.dialects.base import Dialect

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}


class GeminiDialect(Dialect):
    name = "gemini"
    protocol = "google"
    platforms = frozenset({"gemini"})

    def error_body(self, status, message, *, code=None, error_type=None):
        error = {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
        if code:
            error["reason"] = code
            error["details"] = [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code, "domain": "subrelay",
            }]
        return {"error": error}

    def error_event(self, status, message, *, error_type=None):
        return b"data: " + json.dumps(self.error_body(status, message), ensure_ascii=False).encode() + b"\n\n"
