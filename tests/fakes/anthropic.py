"""A fake Anthropic API: a real aiohttp server on 127.0.0.1 that speaks the Messages protocol.

Usage (see the `anthropic_fake` fixture in tests/conftest.py):

    fake = AnthropicFake().start()            # own thread and event loop, free port; fake.url
    fake.reply(Reply(body=message(usage_=usage(input=100, output=20))))  # next answer, JSON
    fake.reply(Reply(events=stream_events(usage_=usage(cache_5m=1200))))  # next answer, SSE
    fake.reply(Reply(status=429, body=error("rate_limit_error", "slow down"),
                     headers={"anthropic-ratelimit-unified-reset": "1900000000"}))
    ... call the gateway ...
    fake.requests[-1].headers["x-api-key"], fake.requests[-1].json["model"], .path, .disconnected

Replies are used in order, one per request (any path); with none queued, or a queued one with neither
`body` nor `events`, the fake answers a plain message (JSON or SSE, as the request asked). `delay`: a
JSON answer comes that many seconds late, SSE events after the first come that many seconds apart.
`hold_after=N` sends N events, then waits for `fake.release()`; `close_after=N` drops the connection
after N events (a broken stream); `drop=True` closes the connection without answering at all.
`Recorded.disconnected` tells whether the gateway hung up before the reply was complete (e.g. after its
client went away), `completed` whether it was all sent.
"""

import asyncio
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"


def usage(input=10, output=5, cache_read=0, cache_creation=None, cache_5m=None, cache_1h=None) -> dict:
    """An Anthropic usage object. The nested split appears when cache_5m or cache_1h is given; the
    aggregate defaults to their sum."""
    if cache_creation is None:
        cache_creation = (cache_5m or 0) + (cache_1h or 0)
    data = {
        "input_tokens": input, "output_tokens": output,
        "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_creation,
    }
    if cache_5m is not None or cache_1h is not None:
        data["cache_creation"] = {
            "ephemeral_5m_input_tokens": cache_5m or 0, "ephemeral_1h_input_tokens": cache_1h or 0,
        }
    return data


def message(model=DEFAULT_MODEL, text="Hello from the fake", usage_=None, msg_id=None) -> dict:
    return {
        "id": msg_id or f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": usage_ if usage_ is not None else usage(),
    }


def error(error_type: str, text: str) -> dict:
    return {"type": "error", "error": {"type": error_type, "message": text}}


def stream_events(model=DEFAULT_MODEL, texts=("Hello", " from", " the fake"), usage_=None,
                  delta_usage=None) -> list[tuple[str, dict]]:
    """The events of one streamed message. usage_ goes into message_start (output_tokens 1 there, as
    Anthropic does); delta_usage (default: the final output count) into message_delta."""
    start_usage = dict(usage_ if usage_ is not None else usage())
    final_output = start_usage.get("output_tokens", 0)
    start_usage["output_tokens"] = 1
    msg = message(model=model, usage_=start_usage)
    msg["content"], msg["stop_reason"] = [], None
    events = [("message_start", {"type": "message_start", "message": msg})]
    events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}))
    events.append(("ping", {"type": "ping"}))
    for text in texts:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": text}}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(("message_delta", {
        "type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": delta_usage if delta_usage is not None else {"output_tokens": final_output},
    }))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def encode_event(name: str, data) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


@dataclass
class Reply:
    status: int = 200
    body: dict | bytes | None = None  # JSON answer (dict) or raw bytes
    headers: dict = field(default_factory=dict)
    events: list | None = None  # SSE answer: [(event name, data dict or str)]
    delay: float = 0.0  # SSE: seconds between events; JSON: seconds before answering
    hold_after: int | None = None
    close_after: int | None = None
    drop: bool = False  # close the connection without any answer


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: bytes
    disconnected: bool = False
    completed: bool = False

    @property
    def json(self):
        return json.loads(self.body)


class AnthropicFake:
    name = "anthropic-fake"
    request_id = {"request-id": "req_fake"}  # on every answer

    def __init__(self):
        self.requests: list[Recorded] = []
        self._replies: deque[Reply] = deque()
        self._release = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- control (from any thread) ---
    def reply(self, *replies: Reply) -> "AnthropicFake":
        self._replies.extend(replies)
        return self

    def release(self):
        """Let streams held by `hold_after` continue."""
        self._release.set()

    def reset(self):
        self.requests.clear()
        self._replies.clear()
        self._release.clear()

    def start(self) -> "AnthropicFake":
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self):
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop = None

    # --- server ---
    async def _start(self):
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, request: web.Request):
        body = await request.read()
        record = Recorded(
            method=request.method, path=request.path, query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()}, body=body,
        )
        self.requests.append(record)
        reply = self._replies.popleft() if self._replies else self._default(request.path, body)
        if not reply.drop and reply.status < 400 and reply.body is None and reply.events is None:
            default = self._default(request.path, body)
            reply = Reply(status=reply.status, body=default.body, events=default.events, headers=reply.headers,
                          delay=reply.delay)
        if reply.drop:
            request.transport.close()
            return web.Response(status=499)
        if reply.events is None:
            if reply.delay:  # a slow JSON answer; notice a caller that hung up meanwhile
                await asyncio.sleep(reply.delay)
                if request.transport is None or request.transport.is_closing():
                    record.disconnected = True
                    return web.Response(status=499)
            raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body or message()).encode()
            record.completed = True
            return web.Response(status=reply.status, body=raw, headers={"content-type": "application/json",
                                                                         **self.request_id, **reply.headers})
        return await self._stream(request, reply, record)

    def _default(self, path: str, body: bytes) -> Reply:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {}
        model = data.get("model", DEFAULT_MODEL) if isinstance(data, dict) else DEFAULT_MODEL
        if path.endswith("/count_tokens"):
            return Reply(body={"input_tokens": 42})
        if isinstance(data, dict) and data.get("stream"):
            return Reply(events=stream_events(model=model))
        return Reply(body=message(model=model))

    def encode(self, name, data) -> bytes:
        """One event of a streamed reply."""
        return encode_event(name, data)

    async def _stream(self, request, reply: Reply, record: Recorded):
        response = web.StreamResponse(status=reply.status, headers={
            "content-type": "text/event-stream", "cache-control": "no-cache", **self.request_id, **reply.headers,
        })
        await response.prepare(request)
        try:
            for index, (name, data) in enumerate(reply.events):
                if reply.close_after is not None and index == reply.close_after:
                    # Let the client take in what was sent: aiohttp drops buffered data on a broken read.
                    await asyncio.sleep(0.2)
                    if request.transport is not None:
                        request.transport.close()
                    return response
                if reply.hold_after is not None and index == reply.hold_after:
                    while not self._release.is_set():
                        if request.transport is None or request.transport.is_closing():
                            record.disconnected = True
                            return response
                        await asyncio.sleep(0.01)
                if reply.delay and index:
                    await asyncio.sleep(reply.delay)
                await response.write(self.encode(name, data))
            await response.write_eof()
            record.completed = True
        except (ConnectionResetError, ConnectionError):
            record.disconnected = True
        return response
