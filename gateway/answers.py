"""Answering the client with what the upstream said: a whole JSON answer, a relayed stream, or a stream
that starts with pings while the request still waits for its slots. Each charges what it delivered."""

import asyncio
import contextlib
import logging

import aiohttp
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse

from billing import settlement
from gateway import cachettl, charges, http, slots
from gateway.auth import AuthContext
from gateway.dialects import Inbound
from gateway.errors import GatewayError, upstream_failed
from gateway.forward import Attempt
from gateway.scheduler import sticky

log = logging.getLogger(__name__)

_background: set[asyncio.Task] = set()


def spawn(coro):
    """A fire-and-forget task that is kept alive until it ends."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def remember(ctx: AuthContext, inbound: Inbound, attempt: Attempt):
    """What the answer produced (a response later requests continue from) is bound to its account, before
    the answer's last bytes leave."""
    if inbound.produced:
        await sticky.bind(ctx.key.group_id, inbound.produced, attempt.account.pk)


async def release_slots(ctx: AuthContext, inbound: Inbound, lease):
    """The request's account, key and user slots, given back together."""
    held = slots.request_slots(ctx.key, inbound.holder)
    if lease is None:
        await slots.give_back_all(held)
    else:
        await lease.release(*held)


# --- JSON ------------------------------------------------------------------------------------------------
async def answer_json(ctx: AuthContext, inbound: Inbound, attempt: Attempt) -> HttpResponse:
    """Read the whole upstream answer, fix it up where a rule says so, charge it, give the slots back, return
    it. A client that leaves meanwhile does not stop any of that: the upstream bills the answer anyway."""
    return await asyncio.shield(spawn(_read_and_charge(ctx, inbound, attempt)))


async def _read_and_charge(ctx: AuthContext, inbound: Inbound, attempt: Attempt) -> HttpResponse:
    upstream = attempt.response
    try:
        try:
            raw = await http.read_limited(upstream, settings.UPSTREAM_RESPONSE_MAX_BYTES)
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("reading the upstream answer failed: %r", exc)
            upstream.close()
            raise upstream_failed()
        finally:
            upstream.release()
        raw = attempt.upstream.decode_json(raw)
        out, usage, overridden = inbound.dialect.answer_json(raw, inbound, attempt.mapped_model, attempt.ttl_target)
        response = HttpResponse(out, status=upstream.status,
                                content_type=upstream.headers.get("content-type", "application/json"))
        attempt.copy_headers(response)
        if usage.known:  # durable before the answer leaves
            await charges.settle(ctx, inbound, attempt, usage, overridden=overridden, stream=False,
                                 first_token_ms=None, status=upstream.status)
        await remember(ctx, inbound, attempt)
        return response
    finally:
        await release_slots(ctx, inbound, attempt.lease)


# --- streams ---------------------------------------------------------------------------------------------
class ClosingStream(StreamingHttpResponse):
    """A streamed response whose `close()` (the handler calls it when the response is over, also after a
    client disconnect, possibly before the generator ever ran) runs `on_close` on the event loop, from
    whatever thread closes it."""

    def __init__(self, content, on_close, **kwargs):
        super().__init__(content, **kwargs)
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()
        self["Cache-Control"] = "no-cache"
        self["X-Accel-Buffering"] = "no"

    def close(self):
        with contextlib.suppress(RuntimeError):  # a closed loop has nothing left to release
            self._loop.call_soon_threadsafe(self._on_close)
        super().close()


class StreamRelay:
    """One upstream stream on its way to the client; `finish()` is its single end.

    The dialect's processor holds back the stream's terminal event; it leaves only once the charge is
    settled, so a client that saw the whole stream has been charged. A client that leaves early still
    pays what the upstream bills: the upstream is read on (at most STREAM_DRAIN_TIMEOUT seconds and
    STREAM_DRAIN_MAX_BYTES) for its final usage, and the slots go back when that ends.
    """

    def __init__(self, ctx: AuthContext, inbound: Inbound, attempt: Attempt):
        self.ctx = ctx
        self.inbound = inbound
        self.attempt = attempt
        self.ttl = attempt.ttl_target
        self.decode = attempt.upstream.stream_decoder(attempt.account)
        self.processor = inbound.dialect.stream_processor(inbound, attempt.mapped_model, self.ttl)
        self.complete = False  # the upstream stream was read to its end
        self.charged = False
        self._finished = False

    def response(self) -> StreamingHttpResponse:
        response = ClosingStream(self.events(), self.finish, status=self.attempt.response.status,
                                 content_type=self.inbound.dialect.stream_content_type)
        self.attempt.copy_headers(response)
        return response

    async def events(self):
        dialect = self.inbound.dialect
        content = self.attempt.response.content
        processor, decode = self.processor, self.decode
        keepalive = settings.STREAM_KEEPALIVE_INTERVAL or None
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
                    yield dialect.ping_event
                    chunk = None
                if chunk == b"":
                    break
                if chunk and decode is not None:
                    chunk = decode(chunk)
                if chunk and (out := processor.feed(chunk)):
                    yield out
            if tail := processor.flush():
                yield tail
            self.complete = True
            await self._charge(incomplete=not processor.ended_cleanly)
            await remember(self.ctx, self.inbound, self.attempt)
            if processor.held:
                yield processor.held
            if not processor.ended_cleanly:
                yield dialect.error_event(502, "Upstream stream ended unexpectedly", error_type="api_error")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("upstream stream of account %s failed: %r", self.attempt.account.pk, exc)
            await self._charge(incomplete=True)  # nothing more will come: charge what was seen, now
            yield dialect.error_event(502, "Upstream stream failed", error_type="api_error")
        finally:
            self.finish()

    def _charge_request(self, incomplete: bool):
        usage = self.processor.usage
        if self.charged or not usage.known:
            return None
        self.charged = True
        overridden = cachettl.apply_to_usage(usage, self.ttl)
        return charges.request(self.ctx, self.inbound, self.attempt, usage, overridden=overridden, stream=True,
                               first_token_ms=self.processor.first_token_ms, status=self.attempt.response.status,
                               incomplete=incomplete)

    async def _charge(self, incomplete: bool):
        if (req := self._charge_request(incomplete)) is not None:
            await settlement.settle(req)

    def finish(self):
        """Once: a stream read to its end gives back its upstream and slots; an unfinished one is drained."""
        if self._finished:
            return
        self._finished = True
        if self.complete:
            self.attempt.response.release()
            if (req := self._charge_request(incomplete=not self.processor.ended_cleanly)) is not None:
                settlement.submit(req)  # the client left while the charge was being settled
            spawn(release_slots(self.ctx, self.inbound, self.attempt.lease))
        else:
            spawn(self._drain())

    async def _drain(self):
        """The client is gone (or the upstream broke): read the rest for the final usage, charge, free the slots."""
        upstream, processor, decode = self.attempt.response, self.processor, self.decode
        cut_short = False
        try:
            read = 0
            async with asyncio.timeout(settings.STREAM_DRAIN_TIMEOUT):
                while chunk := await upstream.content.readany():
                    read += len(chunk)
                    if read > settings.STREAM_DRAIN_MAX_BYTES:
                        cut_short = True
                        break
                    processor.feed(decode(chunk) if decode is not None else chunk)
            processor.flush()
        except (TimeoutError, aiohttp.ClientError):
            cut_short = True
        finally:
            if cut_short or not processor.ended_cleanly:
                upstream.close()  # the upstream sees the request cancelled
            else:
                upstream.release()
            try:
                if (req := self._charge_request(incomplete=cut_short or not processor.ended_cleanly)) is not None:
                    settlement.submit(req)
                await remember(self.ctx, self.inbound, self.attempt)
            finally:
                await release_slots(self.ctx, self.inbound, self.attempt.lease)


class WaitingStream:
    """A streaming request still waiting for its slots when its client should already hear something:
    the answer starts with pings, then carries the relayed stream, or an error event (the status line is
    already sent)."""

    def __init__(self, ctx: AuthContext, inbound: Inbound, pending: asyncio.Future):
        self.ctx, self.inbound, self.pending = ctx, inbound, pending
        self.relay: StreamRelay | None = None
        self.answered = False
        self.finished = False

    def response(self) -> StreamingHttpResponse:
        return ClosingStream(self.events(), self.finish, content_type=self.inbound.dialect.stream_content_type)

    async def events(self):
        dialect = self.inbound.dialect
        try:
            yield dialect.ping_event
            while not self.pending.done():
                await asyncio.wait({self.pending}, timeout=settings.CONCURRENCY_PING_INTERVAL)
                if not self.pending.done():
                    yield dialect.ping_event
            self.answered = True
            try:
                result = self.pending.result()
            except GatewayError as exc:
                yield exc.event(dialect)
                return
            if isinstance(result, HttpResponse):  # the upstream's error, relayed as an event
                yield dialect.relayed_error_event(result)
                return
            if not result.is_stream:
                # The client is told it got nothing, and nothing is what it pays for.
                result.response.close()
                await release_slots(self.ctx, self.inbound, result.lease)
                yield dialect.error_event(502, "Upstream answered without a stream", error_type="api_error")
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
            abandon(self.pending, self.ctx, self.inbound)


def abandon(pending: asyncio.Future, ctx: AuthContext, inbound: Inbound):
    """The client is gone before its answer started: stop waiting, or give back what was obtained."""
    if not pending.done():
        pending.cancel()  # the slot holders and the scheduler give their slots back
        return
    if pending.cancelled() or pending.exception() is not None:
        return
    result = pending.result()
    if isinstance(result, Attempt):
        result.response.close()
        spawn(release_slots(ctx, inbound, result.lease))
