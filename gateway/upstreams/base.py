"""What an upstream adapter is: everything the pipeline needs to know about calling one kind of account.

An adapter builds the request (URL, headers built explicitly, body), resolves the model id, gets the
account ready (an OAuth token), turns the upstream's answer into the client dialect's bytes (a JSON fix-up,
a stream decoder), and says what its errors mean for the account (when a 429 ends, what a 401 means).
The pipeline, the scheduler and the failover rules ask the adapter; none of them looks at an account's
type. An account that no adapter handles is never a candidate.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.dialects.base import Inbound

DEFAULT_RATE_LIMIT = timedelta(minutes=5)  # a 429 that names no reset


class AccountNotReady(Exception):
    """The account cannot be used right now (its token could not be refreshed): the scheduler picks another."""


class UpstreamMisconfigured(Exception):
    """The account lacks what its kind needs (credentials): it is marked and the request fails over,
    before anything was sent upstream."""


@dataclass
class UpstreamRequest:
    url: str
    headers: dict
    body: bytes


def parse_reset(value) -> datetime | None:
    """A reset instant given as unix seconds (maybe fractional or in ms) or RFC 3339."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if number > 1e11:  # milliseconds
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def retry_after(headers, now: datetime) -> datetime | None:
    """A Retry-After of seconds."""
    value = headers.get("retry-after") if headers else None
    try:
        return now + timedelta(seconds=float(value)) if value is not None else None
    except ValueError:
        return None


class Upstream:
    name = ""
    platform = ""  # the platform of the accounts and groups it serves
    types: frozenset = frozenset()  # the account types it serves
    actions: frozenset = frozenset({"messages"})  # what it can be asked for (dialect actions)
    pool_mode = False  # whether pool mode (retry in place, never mark) applies to its accounts
    beta_scope = ""  # the Anthropic beta policy scope its accounts fall under ("" = not an Anthropic upstream)
    failover_statuses: frozenset = frozenset()  # statuses besides the usual ones that move a request on
    # Answer headers the client sees: (upstream name, name for the client).
    response_headers = (("request-id", "request-id"), ("x-request-id", "x-request-id"), ("retry-after", "retry-after"),
                        ("x-should-retry", "x-should-retry"))

    def handles(self, account) -> bool:
        return account.platform == self.platform and account.type in self.types

    def serves(self, action: str) -> bool:
        return action in self.actions

    def mapped_model(self, account, model: str) -> str | None:
        """The model the account's mapping turns `model` into, or None when the account does not serve it."""
        if not account.supports_model(model):
            return None
        return account.mapped_model(model) or model

    def model_for(self, account, model: str) -> str | None:
        """The model id to ask the upstream for, or None when this account cannot serve `model`."""
        return self.mapped_model(account, model)

    async def prepare(self, account) -> None:
        """Make the account ready for a request (raise AccountNotReady to skip it)."""

    def request(self, inbound: Inbound, account, upstream_model: str, body: bytes) -> UpstreamRequest:
        """The HTTP request for `inbound` (body already in the dialect's upstream form); may raise
        UpstreamMisconfigured."""
        raise NotImplementedError

    def pass_headers(self, upstream_headers, response) -> None:
        for name, client_name in self.response_headers:
            if value := upstream_headers.get(name):
                response[client_name] = value

    def is_stream(self, headers) -> bool:
        return headers.get("content-type", "").startswith("text/event-stream")

    def stream_decoder(self, account) -> Callable[[bytes], bytes] | None:
        """A function from upstream stream bytes to the dialect's stream bytes, or None to relay as is."""
        return None

    def decode_json(self, raw: bytes) -> bytes:
        """A non-streaming answer in the dialect's JSON shape."""
        return raw

    def decode_error(self, status: int, headers, body: bytes) -> bytes:
        """An error answer's body in the dialect's error shape, where the provider's differs."""
        return body

    def failover_status(self, status: int, body: bytes) -> int:
        """The status the failover rules read an error answer as (a provider may say "bad credentials"
        with another status than 401)."""
        return status

    def rate_limit_reset(self, headers, body: bytes, now: datetime) -> datetime | None:
        """When the account's rate limit ends after a 429; None = the 429 is not a lasting limit."""
        return retry_after(headers, now) or now + DEFAULT_RATE_LIMIT

    def unauthorized(self, account, text: str) -> str:
        """What a 401 means for the account; returns the mark for the logs."""
        account.mark_error(f"Authentication failed (401): {text}")
        return "error"

    async def after_mark(self, account, mark: str) -> None:
        """Async follow-up of a mark (runs on the event loop, e.g. a token refresh)."""

    def cache_ttl_target(self, account) -> str | None:
        """S5: the cache-write TTL every write of this account is billed as, or None."""
        return None
