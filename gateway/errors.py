"""The errors the gateway answers itself, and the one home of their status codes and retry hints.

A route raises `GatewayError`; the route's dialect gives it its shape (gateway.dialects). Key-auth
failures carry the reference's code string (`API_KEY_EXPIRED`, ...) so scripts written for sub2api can
still match on it.

Every refusal tells clients whether to try again, as the Anthropic API does: `x-should-retry: false`
unless a retry can cure it (a busy slot, an overloaded or rate-limited pool), then `true` with a
`retry-after`. Claude Code and the SDKs stop at once on `false` instead of retrying for minutes.
"""

# Upstream statuses the SDKs retry by default (when the upstream said nothing itself).
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class GatewayError(Exception):
    """A request the gateway answers itself, with a status, a message, optionally a code string, and the
    seconds after which a retry may succeed (None: a retry cannot cure it)."""

    def __init__(self, status: int, message: str, code: str | None = None, error_type: str | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type
        self.retry_after = retry_after

    def response(self, dialect):
        response = dialect.error_response(self.status, self.message, code=self.code, error_type=self.error_type)
        set_retry_hint(response, self.retry_after)
        return response

    def event(self, dialect) -> bytes:
        return dialect.error_event(self.status, self.message, error_type=self.error_type)


def set_retry_hint(response, retry_after: float | None) -> None:
    if retry_after is None:
        response["x-should-retry"] = "false"
        return
    response["x-should-retry"] = "true"
    response["retry-after"] = str(max(int(retry_after + 0.999), 1))


def hint_relayed(response) -> None:
    """An upstream's error on its way to the client: its own hint if it gave one, else the SDKs' rule."""
    if "x-should-retry" not in response:
        response["x-should-retry"] = "true" if response.status_code in RETRYABLE_STATUSES else "false"


# --- the errors more than one place raises ------------------------------------------------------------


def no_available_account(detail: str) -> GatewayError:
    return GatewayError(503, f"No available accounts: {detail}", error_type="api_error", retry_after=30)


def upstream_failed() -> GatewayError:
    return GatewayError(502, "Upstream request failed", error_type="upstream_error", retry_after=5)


def failover_exhausted(status: int) -> GatewayError:
    """Every account tried failed with `status`. The client must not read an upstream 401/403 as a
    verdict on its own key, so those become 502; limits and overload keep their meaning (spec §2.12)."""
    if status == 429:
        return GatewayError(429, "Upstream rate limit exceeded, please retry later", error_type="rate_limit_error",
                            retry_after=30)
    if status == 529:
        return GatewayError(503, "Upstream service overloaded, please retry later", error_type="overloaded_error",
                            retry_after=30)
    if status >= 500:
        return GatewayError(502, "Upstream service temporarily unavailable", error_type="upstream_error",
                            retry_after=10)
    return GatewayError(502, "Upstream request failed", error_type="upstream_error")


def bad_request(message: str) -> GatewayError:
    return GatewayError(400, message, error_type="invalid_request_error")


def concurrency_exceeded(message: str) -> GatewayError:
    return GatewayError(429, message, error_type="rate_limit_error", retry_after=5)


def window_exceeded(window, now) -> GatewayError:
    """A key's spend window (apikeys.windows) is used up: retry when it resets."""
    resets = window.resets_at(now)
    return GatewayError(
        429, f"API key {window.name} spend limit exceeded, resets at {resets.isoformat()}",
        code=window.code, error_type="rate_limit_error", retry_after=(resets - now).total_seconds(),
    )


def rate_exceeded(message: str, retry_after: float) -> GatewayError:
    return GatewayError(429, message, error_type="rate_limit_error", retry_after=retry_after)
