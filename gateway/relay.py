"""The Anthropic relay: one inbound `/v1/messages` request to an upstream account and back (spec §2.3-2.14).

Per request: key auth → user slot → account choice (scheduler) → forward → failover on upstream errors
before any byte reached the client → JSON answer or SSE stream → charge after the response.

Upstream headers are built explicitly (never the client's key, cookies or hop-by-hop headers). The
body is relayed as the client sent it unless the account maps the model, in which case only `model`
changes and the answer carries the requested name again.
"""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass

import aiohttp
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, StreamingHttpResponse

from billing import charge as billing
from billing.cost import Usage
from core import jsonutil
from gateway import cachettl, failover, scheduler, slots
from gateway.auth import AuthContext
from gateway.errors import (
    GatewayError,
    bad_request,
    failover_exhausted,
    no_available_account,
    sse_error_event,
    upstream_failed,
)
from gateway.sessions import session_hash
from gateway.sse import StreamProcessor
from gateway.usage import read_usage

log = logging.getLogger(__name__)

DEFAULT_VERSION = "2023-06-01"
OAUTH_BETA = "oauth-2025-04-20"
CLAUDE_CODE_BETA = "claude-code-20250219"
# Client headers worth passing on; everything else (keys, cookies, hop-by-hop, encodings) stays here.
PASSTHROUGH_HEADERS = frozenset({
    "anthropic-version", "anthropic-beta", "content-type", "accept", "user-agent", "x-app",
    "anthropic-dangerous-direct-browser-access", "accept-language",
})
# Upstream response headers the client may see.
RESPONSE_HEADERS = ("request-id", "x-request-id", "retry-after")
PING_EVENT = b'event: ping\ndata: {"type": "ping"}\n\n'

_background: set[asyncio.Task] = set()


def _spawn(coro):
    """A fire-and-forget task that is kept alive until it ends."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


@dataclass
class Inbound:
    body: bytes
    data: dict
    model: str
    stream: bool
    endpoint: str
    user_agent: str
    request_id: str  # "client:<uuid4>", the usage log's idempotency key
    holder: str  # slot holder id (the same uuid)
    started: float


def read_inbound(request, endpoint: str) -> Inbound:
    try:
        body = request.body
    except RequestDataTooBig:
        raise GatewayError(413, "Request body too large", error_type="request_too_large")
    if not body:
        raise bad_request("Request body is empty")
    data = jsonutil.parse(body)
    if not isinstance(data, dict):
        raise bad_request("Failed to parse request body")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required")
    holder = uuid.uuid4().hex
    return Inbound(
        body=body, data=data, model=model, stream=data.get("stream") is True, endpoint=endpoint,
        user_agent=request.META.get("HTTP_USER_AGENT", ""), request_id=f"client:{holder}", holder=holder,
        started=time.monotonic(),
    )


# --- upstream request ----------------------------------------------------------------------------------


def _merge_oauth_beta(client_beta: str) -> str:
    tokens = [t.strip() for t in client_beta.split(",") if t.strip()]
    if OAUTH_BETA in tokens:
        return ",".join(tokens)
    if CLAUDE_CODE_BETA in tokens:
        tokens.insert(tokens.index(CLAUDE_CODE_BETA) + 1, OAUTH_BETA)
    else:
        tokens.insert(0, OAUTH_BETA)
    return ",".join(tokens)


def upstream_headers(request, account) -> dict:
    headers = {}
    for name, value in request.META.items():
        if not name.startswith("HTTP_") and name != "CONTENT_TYPE":
            continue
        lower = name.removeprefix("HTTP_").replace("_", "-").lower()
        if lower in PASSTHROUGH_HEADERS or lower.startswith("x-stainless-"):
            headers[lower] = value
    headers.setdefault("anthropic-version", DEFAULT_VERSION)
    headers["content-type"] = "application/json"
    headers["accept-encoding"] = "identity"
    if account.is_oauth:
        headers["authorization"] = f"Bearer {account.access_token}"
        headers["anthropic-beta"] = _merge_oauth_beta(headers.get("anthropic-beta", ""))
    else:
        headers["x-api-key"] = account.api_key
    return headers


def upstream_url(account, path: str) -> str:
    base = (account.base_url or settings.ANTHROPIC_BASE_URL).rstrip("/")
    return f"{base}{path}?beta=true"


def body_for(inbound: Inbound, upstream_model: str) -> bytes:
    if upstream_model == inbound.model:
        return inbound.body
    return json.dumps({**inbound.data, "model": upstream_model}, ensure_ascii=False).encode()


@dataclass
class Attempt:
    lease: object
    response: aiohttp.ClientResponse
    upstream_model: str

    @property
    def account(self):
        return self.lease.account


def _error_from_upstream(status: int, headers, body: bytes) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=headers.get("content-type", "application/json"))
    for name in RESPONSE_HEADERS:
        if value := headers.get(name):
            response[name] = value
    return response


def proxy_for(account) -> str | None:
    """The account's HTTP(S) proxy URL. SOCKS would need another client library: refuse rather than
    silently connect from our own address."""
    proxy = account.proxy
    if proxy is None or not proxy.is_active:
        return None
    if proxy.protocol not in ("http", "https"):
        raise GatewayError(502, f"Account proxy protocol {proxy.protocol} is not supported", error_type="api_error")
    return proxy.url


async def _post(session, url, body, headers, timeout, proxy) -> aiohttp.ClientResponse:
    """POST, once more if the upstream had closed the pooled keep-alive connection without answering."""
    try:
        return await session.post(url, data=body, headers=headers, timeout=timeout, proxy=proxy)
    except aiohttp.ServerDisconnectedError:
        return await session.post(url, data=body, headers=headers, timeout=timeout, proxy=proxy)


async def forward(request, ctx: AuthContext, inbound: Inbound, path: str) -> Attempt | HttpResponse:
    """Send the request to an account, failing over as failover.py decides.

    Returns the successful attempt (its lease still held, the caller releases it) or an upstream error
    that is the client's to see (400, 404, ...) as it is; raises GatewayError when no account can be
    used at all, or when every account tried failed (failover_exhausted).
    """
    key = ctx.key
    platform = key.group_platform or "anthropic"
    sticky = None
    if path == "/v1/messages":
        sticky = session_hash(inbound.data, request.headers, ctx.client_ip, key.key_id, platform) or None
    exclude: set[int] = set()
    last_error: HttpResponse | None = None
    failed_status: int | None = None  # the last failover status, once an account failed over
    switches = 0
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=30,
        sock_read=settings.STREAM_IDLE_TIMEOUT if inbound.stream else settings.UPSTREAM_RESPONSE_HEADER_TIMEOUT,
    )
    from gateway.upstream import get_session

    session = get_session()
    while True:
        selection = scheduler.SelectionRequest(
            group_id=key.group_id, platform=platform, model=inbound.model, user_id=key.user_id,
            api_key_id=key.key_id, stream=inbound.stream, session_hash=sticky, request_id=inbound.holder,
        )
        try:
            lease = await scheduler.select_account(selection, frozenset(exclude))
        except scheduler.NoAccountAvailable as exc:
            if failed_status is not None:
                raise failover_exhausted(failed_status)
            if last_error is not None:
                return last_error
            raise no_available_account(str(exc))
        except slots.ConcurrencyLimitExceeded as exc:
            raise GatewayError(429, str(exc), error_type="rate_limit_error")
        account = lease.account
        handed_over = False
        try:
            # select_account hands out OAuth accounts with a fresh token (accounts.oauth.ensure_fresh_token).
            proxy = proxy_for(account)
            upstream_model = account.mapped_model(inbound.model) or inbound.model
            body = body_for(inbound, upstream_model)
            headers = upstream_headers(request, account)
            url = upstream_url(account, path)
            retries = 0
            while True:
                try:
                    response = await _post(session, url, body, headers, timeout, proxy)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    log.warning("upstream request to account %s failed: %r", account.pk, exc)
                    raise upstream_failed()
                if response.status < 400:
                    handed_over = True
                    return Attempt(lease=lease, response=response, upstream_model=upstream_model)
                try:
                    error_body = await response.read()
                except (TimeoutError, aiohttp.ClientError):
                    error_body = b""
                finally:
                    response.release()
                last_error = _error_from_upstream(response.status, response.headers, error_body)
                decision = await failover.handle_upstream_error(account, response.status, response.headers, error_body)
                if decision.retry_same and retries < failover.pool_retry_count(account):
                    retries += 1
                    await asyncio.sleep(settings.POOL_MODE_RETRY_DELAY)
                    continue
                if decision.retry_same:
                    await failover.pool_retries_exhausted(account, response.status)
                break
        finally:
            if not handed_over:
                await lease.release()
        if not decision.switch_account:
            return last_error
        failed_status = last_error.status_code
        if switches >= settings.MAX_ACCOUNT_SWITCHES:
            raise failover_exhausted(failed_status)
        exclude.add(account.pk)
        switches += 1


# --- answering -----------------------------------------------------------------------------------------


async def _read_limited(upstream: aiohttp.ClientResponse) -> bytes:
    """The whole upstream answer, refusing more than UPSTREAM_RESPONSE_MAX_BYTES (spec §2.11: 8 MiB)."""
    limit = settings.UPSTREAM_RESPONSE_MAX_BYTES
    chunks, size = [], 0
    async for chunk in upstream.content.iter_any():
        size += len(chunk)
        if size > limit:
            upstream.close()
            raise GatewayError(502, "Upstream response too large", error_type="upstream_error")
        chunks.append(chunk)
    return b"".join(chunks)


def _charge_request(ctx: AuthContext, inbound: Inbound, attempt: Attempt, usage: Usage, *, overridden: bool,
                    stream: bool, first_token_ms: int | None, status: int) -> billing.ChargeRequest:
    key = ctx.key
    return billing.ChargeRequest(
        request_id=inbound.request_id, api_key_id=key.key_id, key_hash=key.key_hash, key_quota=key.quota,
        user_id=key.user_id, group_id=key.group_id, account=attempt.account, model=inbound.model, usage=usage,
        rate_multiplier=key.rate_multiplier,
        subscription_id=ctx.subscription.pk if ctx.subscription is not None else None,
        upstream_model=attempt.upstream_model, cache_ttl_overridden=overridden, stream=stream,
        duration_ms=int((time.monotonic() - inbound.started) * 1000), first_token_ms=first_token_ms,
        status=status, endpoint=inbound.endpoint, user_agent=inbound.user_agent, ip_address=ctx.client_ip,
    )


def _copy_headers(response, upstream_headers_):
    for name in RESPONSE_HEADERS:
        if value := upstream_headers_.get(name):
            response[name] = value


async def answer_json(ctx: AuthContext, inbound: Inbound, attempt: Attempt) -> HttpResponse:
    """Read the whole upstream answer, fix it up where a rule says so, charge, return it."""
    upstream = attempt.response
    try:
        raw = await _read_limited(upstream)
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("reading the upstream answer failed: %r", exc)
        upstream.close()
        raise upstream_failed()
    finally:
        upstream.release()
    out = raw
    usage = Usage()
    ttl = cachettl.target_for(attempt.account)
    overridden = False
    data = jsonutil.parse(raw)
    if isinstance(data, dict):
        changed = False
        body_usage = data.get("usage")
        if isinstance(body_usage, dict):
            read_usage(body_usage, usage)
            changed = cachettl.rewrite_json_usage(body_usage, usage, ttl)
            overridden = cachettl.apply_to_usage(usage, ttl)
        if attempt.upstream_model != inbound.model and data.get("model") not in (None, inbound.model):
            data["model"] = inbound.model
            changed = True
        if changed:
            out = json.dumps(data, ensure_ascii=False).encode()
    response = HttpResponse(out, status=upstream.status,
                            content_type=upstream.headers.get("content-type", "application/json"))
    _copy_headers(response, upstream.headers)
    if usage.known:
        billing.submit(_charge_request(ctx, inbound, attempt, usage, overridden=overridden, stream=False,
                                       first_token_ms=None, status=upstream.status))
    return response


class StreamRelay:
    """One upstream SSE stream on its way to the client; `finish()` is its single end."""

    def __init__(self, ctx: AuthContext, inbound: Inbound, attempt: Attempt):
        self.ctx = ctx
        self.inbound = inbound
        self.attempt = attempt
        self.loop = asyncio.get_running_loop()
        self.ttl = cachettl.target_for(attempt.account)
        model_back = inbound.model if attempt.upstream_model != inbound.model else None
        self.processor = StreamProcessor(ttl_target=self.ttl, model_back=model_back, started=inbound.started)
        self.complete = False
        self._finished = False

    async def events(self):
        upstream = self.attempt.response
        processor = self.processor
        content = upstream.content
        keepalive = settings.STREAM_KEEPALIVE_INTERVAL or None
        refresh_every = settings.CONCURRENCY_SLOT_TTL / 3
        next_refresh = self.loop.time() + refresh_every
        try:
            while True:
                # No upstream byte for `keepalive` seconds: ping the client so proxies keep the line open.
                # (The upstream's own silence limit is aiohttp's sock_read = STREAM_IDLE_TIMEOUT.)
                quiet = asyncio.timeout(keepalive)
                try:
                    async with quiet:
                        chunk = await content.readany()
                except TimeoutError:
                    if not quiet.expired():
                        raise
                    yield PING_EVENT
                    chunk = None
                if chunk == b"":
                    break
                if chunk and (out := processor.feed(chunk)):
                    yield out
                if self.loop.time() > next_refresh:  # a stream longer than the slot TTL keeps its slots
                    next_refresh = self.loop.time() + refresh_every
                    _spawn(slots.refresh_slots(self.inbound.holder, self.ctx.key.user_id, self.attempt.account.pk))
            if tail := processor.flush():
                yield tail
            self.complete = True
            if not processor.saw_stop and not processor.saw_error:
                yield sse_error_event(502, "Upstream stream ended unexpectedly", error_type="api_error")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("upstream stream of account %s failed: %r", self.attempt.account.pk, exc)
            yield sse_error_event(502, "Upstream stream failed", error_type="api_error")
        finally:
            self.finish()

    def finish(self):
        """Once: end the upstream request (cancelling it if unfinished), charge what is known, free slots."""
        if self._finished:
            return
        self._finished = True
        upstream = self.attempt.response
        if self.complete:
            upstream.release()
        else:
            upstream.close()  # closes the connection: the upstream sees the request cancelled
        usage = self.processor.usage
        if usage.known:
            overridden = cachettl.apply_to_usage(usage, self.ttl)
            billing.submit(_charge_request(
                self.ctx, self.inbound, self.attempt, usage, overridden=overridden, stream=True,
                first_token_ms=self.processor.first_token_ms, status=upstream.status,
            ))
        _spawn(release_slots(self.ctx, self.inbound, self.attempt.lease))


async def release_slots(ctx: AuthContext, inbound: Inbound, lease):
    """The request's account and user slots, given back together."""
    user_slot = (slots.user_key(ctx.key.user_id), inbound.holder)
    if lease is None:
        await slots.give_back_all([user_slot])
    else:
        await lease.release(user_slot)


def stream_response(ctx: AuthContext, inbound: Inbound, attempt: Attempt) -> StreamingHttpResponse:
    relay = StreamRelay(ctx, inbound, attempt)
    response = _ClosingStream(relay.events(), relay.finish, status=attempt.response.status,
                              content_type="text/event-stream")
    return _sse_headers(response, attempt.response.headers)


async def relay_messages(request, ctx: AuthContext, inbound: Inbound):
    """Forward an authenticated /v1/messages request and answer it (JSON or SSE).

    A streaming client that would hear nothing for CONCURRENCY_PING_INTERVAL, because it queues for its
    user slot or for a busy account, gets its SSE answer started at once, with pings until the upstream
    answers (spec §2.4).
    """
    if not inbound.stream:
        return await _answer(ctx, inbound, await _take_slot_and_forward(request, ctx, inbound))
    pending = asyncio.ensure_future(_take_slot_and_forward(request, ctx, inbound))
    try:
        await asyncio.wait({pending}, timeout=settings.CONCURRENCY_PING_INTERVAL)
    except asyncio.CancelledError:
        _abandon(pending, ctx, inbound)
        raise
    if not pending.done():
        return WaitingStream(ctx, inbound, pending).response()
    return await _answer(ctx, inbound, pending.result())


async def _take_slot_and_forward(request, ctx: AuthContext, inbound: Inbound) -> "Attempt | HttpResponse":
    """The user slot, then the upstream's answer. Only a returned Attempt still holds the user slot (and
    its account lease); on every other outcome, cancellation included, the slot goes back here."""
    key = ctx.key
    holding = False
    try:
        try:
            await slots.acquire_user_slot(key.user_id, key.user_concurrency, inbound.holder, stream=inbound.stream)
        except slots.ConcurrencyLimitExceeded as exc:
            raise GatewayError(429, str(exc), error_type="rate_limit_error")
        result = await forward(request, ctx, inbound, "/v1/messages")
        holding = isinstance(result, Attempt)
        return result
    finally:
        if not holding:
            await slots.release_user_slot(key.user_id, inbound.holder)


async def _answer(ctx: AuthContext, inbound: Inbound, result) -> HttpResponse:
    """Answer with what the upstream said; the slots go back when the answer is done."""
    if isinstance(result, HttpResponse):
        return result
    if result.response.headers.get("content-type", "").startswith("text/event-stream"):
        return stream_response(ctx, inbound, result)  # its StreamRelay gives both slots back at its end
    try:
        return await answer_json(ctx, inbound, result)
    finally:
        await release_slots(ctx, inbound, result.lease)


def _abandon(pending: asyncio.Future, ctx: AuthContext, inbound: Inbound):
    """The client is gone before its answer started: stop waiting, or give back what was obtained."""
    if not pending.done():
        pending.cancel()  # _take_slot_and_forward and the scheduler give their slots back
        return
    if pending.cancelled() or pending.exception() is not None:
        return
    result = pending.result()
    if isinstance(result, Attempt):
        result.response.close()
        _spawn(release_slots(ctx, inbound, result.lease))


class _ClosingStream(StreamingHttpResponse):
    """An SSE response whose `close()` (the handler calls it when the response is over, also after a
    client disconnect, possibly before the generator ever ran) runs `on_close` on the event loop, from
    whatever thread closes it."""

    def __init__(self, content, on_close, **kwargs):
        super().__init__(content, **kwargs)
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()

    def close(self):
        with contextlib.suppress(RuntimeError):  # a closed loop has nothing left to release
            self._loop.call_soon_threadsafe(self._on_close)
        super().close()


def _sse_headers(response, upstream_headers_=None):
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    if upstream_headers_ is not None:
        _copy_headers(response, upstream_headers_)
    return response


class WaitingStream:
    """A streaming request still waiting for its slots when its client should already hear something:
    the SSE answer starts with pings, then carries the relayed stream, or an SSE error event (the status
    line is already sent)."""

    def __init__(self, ctx: AuthContext, inbound: Inbound, pending: asyncio.Future):
        self.ctx, self.inbound, self.pending = ctx, inbound, pending
        self.relay: StreamRelay | None = None
        self.answered = False
        self.finished = False

    def response(self) -> StreamingHttpResponse:
        return _sse_headers(_ClosingStream(self.events(), self.finish, content_type="text/event-stream"))

    async def events(self):
        try:
            yield PING_EVENT
            while not self.pending.done():
                await asyncio.wait({self.pending}, timeout=settings.CONCURRENCY_PING_INTERVAL)
                if not self.pending.done():
                    yield PING_EVENT
            self.answered = True
            try:
                result = self.pending.result()
            except GatewayError as exc:
                yield sse_error_event(exc.status, exc.message, error_type=exc.error_type)
                return
            if isinstance(result, HttpResponse):  # the upstream's error, relayed as an event
                yield _error_event_from(result)
                return
            if not result.response.headers.get("content-type", "").startswith("text/event-stream"):
                try:
                    await answer_json(self.ctx, self.inbound, result)  # charged, but cannot be streamed now
                finally:
                    await release_slots(self.ctx, self.inbound, result.lease)
                yield sse_error_event(502, "Upstream answered without a stream", error_type="api_error")
                return
            self.relay = StreamRelay(self.ctx, self.inbound, result)  # it gives both slots back at its end
            async for part in self.relay.events():
                yield part
        finally:
            self.finish()

    def finish(self):
        if self.finished:
            return
        self.finished = True
        if self.relay is not None:
            self.relay.finish()  # also when this generator was closed while the relay's was suspended
        elif not self.answered:
            _abandon(self.pending, self.ctx, self.inbound)


def _error_event_from(response: HttpResponse) -> bytes:
    body = jsonutil.parse(response.content)
    if isinstance(body, dict) and body.get("type") == "error":
        return b"event: error\ndata: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"
    return sse_error_event(response.status_code, "Upstream request failed", error_type="api_error")


async def relay_count_tokens(request, ctx: AuthContext, inbound: Inbound) -> HttpResponse:
    """Forwarded like a message (no user slot), answered as is, never billed."""
    result = await forward(request, ctx, inbound, "/v1/messages/count_tokens")
    if isinstance(result, HttpResponse):
        return result
    upstream = result.response
    try:
        raw = await upstream.read()
    except (TimeoutError, aiohttp.ClientError):
        raise upstream_failed()
    finally:
        upstream.release()
        await result.lease.release()
    response = HttpResponse(raw, status=upstream.status,
                            content_type=upstream.headers.get("content-type", "application/json"))
    _copy_headers(response, upstream.headers)
    return response
