"""The request pipeline, written once for every protocol and provider:

key auth → key limits (RPM, concurrency) → user slot → account choice + account slot → forward with
failover → JSON answer or stream → usage → charge.

The dialect (gateway.dialects) reads the request and shapes answers and errors; the upstream adapter
(gateway.upstreams) of the chosen account calls the provider; this module only orders the steps and makes
sure every slot is given back on every path.
"""

import asyncio

import aiohttp
from django.conf import settings
from django.http import HttpResponse

from gateway import answers, slots
from gateway.auth import AuthContext, authenticate
from gateway.dialects import Dialect, Inbound
from gateway.errors import concurrency_exceeded, rate_exceeded, upstream_failed
from gateway.forward import Attempt, forward


async def serve(request, dialect: Dialect, action: str, *, billed: bool = True, **path) -> HttpResponse:
    """Authenticate, read the request in its dialect and answer it."""
    ctx = await authenticate_for(request, dialect)
    inbound = dialect.read(request, action, **path)
    inbound.holder = request.subrelay_id  # the usage log's request id is the one the client was told
    if not billed:
        return await relay_unbilled(request, ctx, inbound)
    return await relay(request, ctx, inbound)


async def authenticate_for(request, dialect: Dialect, *, skip_billing: bool = False) -> AuthContext:
    """Key auth; then the key's group must be of a platform the dialect serves."""
    ctx = await authenticate(request, skip_billing=skip_billing, dialect=dialect)
    platform = ctx.key.group_platform
    if platform is not None and platform not in dialect.platforms:
        raise dialect.wrong_platform(request.path, platform)
    return ctx


async def relay(request, ctx: AuthContext, inbound: Inbound) -> HttpResponse:
    """Forward an authenticated request and answer it (JSON or stream).

    A streaming client that would hear nothing for CONCURRENCY_PING_INTERVAL, because it queues for its
    user slot or for a busy account, gets its answer started at once, with pings until the upstream
    answers (spec §2.4).
    """
    if not inbound.stream:
        return await _answer(ctx, inbound, await _take_slot_and_forward(request, ctx, inbound))
    pending = asyncio.ensure_future(_take_slot_and_forward(request, ctx, inbound))
    try:
        await asyncio.wait({pending}, timeout=settings.CONCURRENCY_PING_INTERVAL)
    except asyncio.CancelledError:
        answers.abandon(pending, ctx, inbound)
        raise
    if not pending.done():
        return answers.WaitingStream(ctx, inbound, pending).response()
    return await _answer(ctx, inbound, pending.result())


async def _take_slot_and_forward(request, ctx: AuthContext, inbound: Inbound) -> Attempt | HttpResponse:
    """The user slot, then the upstream's answer. Only a returned Attempt still holds the user slot (and
    its account lease); on every other outcome, cancellation included, the slot goes back here."""
    key = ctx.key
    holding = False
    try:
        try:
            await slots.acquire_key_slots(key, inbound.holder)
            await slots.acquire_user_slot(key.user_id, key.user_concurrency, inbound.holder, stream=inbound.stream)
        except slots.ConcurrencyLimitExceeded as exc:
            raise concurrency_exceeded(str(exc))
        except slots.RateLimitExceeded as exc:
            raise rate_exceeded(exc.message, exc.retry_after)
        result = await forward(request, ctx, inbound)
        holding = isinstance(result, Attempt)
        return result
    finally:
        if not holding:
            await slots.give_back_all(slots.request_slots(key, inbound.holder))


async def _answer(ctx: AuthContext, inbound: Inbound, result) -> HttpResponse:
    """Answer with what the upstream said; the slots go back when the answer is done."""
    if isinstance(result, HttpResponse):
        return result
    if result.is_stream:
        return answers.StreamRelay(ctx, inbound, result).response()  # it gives both slots back at its end
    return await answers.answer_json(ctx, inbound, result)  # so does the JSON answer


async def relay_unbilled(request, ctx: AuthContext, inbound: Inbound) -> HttpResponse:
    """Forwarded like a message (no user slot), answered as is, never billed (count_tokens)."""
    result = await forward(request, ctx, inbound)
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
    response = HttpResponse(result.upstream.decode_json(raw), status=upstream.status,
                            content_type=upstream.headers.get("content-type", "application/json"))
    result.copy_headers(response)
    return response
