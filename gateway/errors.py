"""The errors the gateway answers itself, and the one home of their status codes.

A route raises `GatewayError`; the route's dialect gives it its shape (gateway.dialects). Key-auth
failures carry the reference's code string (`API_KEY_EXPIRED`, ...) so scripts written for sub2api can
still match on it.
"""


class GatewayError(Exception):
    """A request the gateway answers itself, with a status, a message and optionally a code string."""

    def __init__(self, status: int, message: str, code: str | None = None, error_type: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type

    def response(self, dialect):
        return dialect.error_response(self.status, self.message, code=self.code, error_type=self.error_type)

    def event(self, dialect) -> bytes:
        return dialect.error_event(self.status, self.message, error_type=self.error_type)


# --- the errors more than one place raises ------------------------------------------------------------


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


def concurrency_exceeded(message: str) -> GatewayError:
    return GatewayError(429, message, error_type="rate_limit_error")
