"""A lean fake Anthropic upstream for the benchmark, run as its own process.

It must cost as little CPU as possible, since it shares the machine with the gateway and the load
generator: answers are encoded once and only the ids are substituted per request. `POST /v1/messages`
answers a fixed message with usage, or, with `"stream": true`, an SSE stream of `events` events
(message_start, content_block_start, deltas, content_block_stop, message_delta, message_stop),
`delay_ms` apart. The knobs are set between scenarios through `POST /_bench/config`; `GET /_bench/stats`
counts the requests per key (`x-api-key` or a Bearer token, so the bench can tell direct calls from
relayed ones) and the peak number of streams open at once since the last config change. Bedrock's
`POST /model/{id}/invoke` and `/invoke-with-response-stream` answer the same message and events, the
stream in AWS event-stream frames. Gemini's `POST /v1beta/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse` answer a GenerateContentResponse and as many SSE chunks as a stream
has events, each with the running usage as Gemini sends it (key: `x-goog-api-key`).
OpenAI's `POST /v1/chat/completions` answers a completion, or chunks with as many content deltas
(with the usage chunk and `"usage":null` in every chunk when the request asked for
`stream_options.include_usage`, as OpenAI does).

    python -m bench.fake_upstream --port 0     # prints "READY <port>" once listening
"""

import argparse
import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import struct
import sys
from collections import Counter

from aiohttp import web

MODEL = "claude-sonnet-4-5"
# The 6 events around the deltas; a stream of N events has N - 6 deltas (at least one).
FRAME_EVENTS = 6
USAGE_IN = {"input_tokens": 25, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
USAGE_OUT = {"output_tokens": 40}

_ids = itertools.count(1)


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def message_json() -> bytes:
    return json.dumps({
        "id": "msg___ID__", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": "Hello from the bench upstream. " * 4}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {**USAGE_IN, "output_tokens": USAGE_OUT["output_tokens"]},
    }, separators=(",", ":")).encode()


def stream_events(events: int) -> list[bytes]:
    deltas = max(events - FRAME_EVENTS, 1)
    start = {"type": "message_start", "message": {
        "id": "msg___ID__", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": USAGE_IN,
    }}
    out = [_event("message_start", start),
           _event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}}),
           _event("ping", {"type": "ping"})]
    out += [_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": f"token {i} "}})
            for i in range(deltas)]
    out += [_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                        "stop_sequence": None},
                                     "usage": USAGE_OUT}),
            _event("message_stop", {"type": "message_stop"})]
    return out


OPENAI_MODEL = "gpt-4o-mini"
OPENAI_USAGE = {"prompt_tokens": 25, "completion_tokens": 40, "total_tokens": 65,
                "prompt_tokens_details": {"cached_tokens": 0}}


def completion_json() -> bytes:
    return json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1764547200, "model": OPENAI_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the bench upstream. " * 4},
                     "finish_reason": "stop"}],
        "usage": OPENAI_USAGE, "service_tier": "default",
    }, separators=(",", ":")).encode()


def chat_chunks(events: int, include_usage: bool) -> list[bytes]:
    deltas = max(events - FRAME_EVENTS, 1)
    extra = {"usage": None} if include_usage else {}

    def chunk(delta, finish=None):
        return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764547200,
                "model": OPENAI_MODEL, "service_tier": "default",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": f"token {i} "}) for i in range(deltas)]
    out.append(chunk({}, "stop"))
    if include_usage:
        out.append({**chunk({}), "choices": [], "usage": OPENAI_USAGE})
    return [f"data: {json.dumps(c, separators=(',', ':'))}\n\n".encode() for c in out] + [b"data: [DONE]\n\n"]


def event_stream_frame(event_sse: bytes) -> bytes:
    """The AWS event-stream frame carrying one Anthropic event (as Bedrock sends it)."""
    data = event_sse.split(b"data: ", 1)[1].strip()
    payload = json.dumps({"bytes": base64.b64encode(data).decode()}).encode()
    headers = b"".join(
        struct.pack("!B", len(name)) + name + b"\x07" + struct.pack("!H", len(value)) + value
        for name, value in ((b":event-type", b"chunk"), (b":content-type", b"application/json"),
                            (b":message-type", b"event"))
    )
    prelude = struct.pack("!II", 12 + len(headers) + len(payload) + 4, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack("!I", binascii.crc32(message))


GEMINI_USAGE = {"promptTokenCount": 25, "candidatesTokenCount": 40, "totalTokenCount": 65}


def gemini_chunk(text: str, usage: dict, finish: bool) -> dict:
    candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
            "responseId": "__ID__"}


def gemini_json() -> bytes:
    return json.dumps(gemini_chunk("Hello from the bench upstream. " * 4, GEMINI_USAGE, True),
                      separators=(",", ":")).encode()


def gemini_events(events: int) -> list[bytes]:
    running = {"promptTokenCount": 25, "totalTokenCount": 25}
    return [b"data: " + json.dumps(gemini_chunk(f"token {i} ", GEMINI_USAGE if i == events - 1 else running,
                                                i == events - 1), separators=(",", ":")).encode() + b"\r\n\r\n"
            for i in range(events)]


def _caller(request: web.Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:]
    return request.headers.get("x-api-key", "") or request.headers.get("x-goog-api-key", "")


class Fake:
    def __init__(self):
        self.requests = Counter()
        self.open_streams = self.peak_streams = 0
        self.configure(events=20, delay_ms=0)
        self.json_body = message_json()
        self.gemini_body = gemini_json()
        self.completion_body = completion_json()

    def configure(self, events: int, delay_ms: float):
        self.events, self.delay = events, delay_ms / 1000
        self.stream_body = stream_events(events)
        self.bedrock_frames = [event_stream_frame(e.replace(b"__ID__", b"bedrock")) for e in self.stream_body]
        gemini = gemini_events(events)
        self.gemini_stream = gemini[:1] + [e.replace(b"__ID__", b"bench") for e in gemini[1:]]
        self.chat_body = {usage: chat_chunks(events, usage) for usage in (False, True)}
        self.peak_streams = self.open_streams

    async def messages(self, request: web.Request) -> web.StreamResponse:
        self.requests[_caller(request)] += 1
        body = json.loads(await request.read())
        n = next(_ids)
        ident = f"bench{n:09d}".encode()
        headers = {"request-id": f"req_bench{n:09d}"}
        if not body.get("stream"):
            return web.Response(body=self.json_body.replace(b"__ID__", ident), headers=headers,
                                content_type="application/json")
        return await self._sse(request, {**headers, "Cache-Control": "no-cache"}, self.stream_body, ident)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.requests[_caller(request)] += 1
        body = json.loads(await request.read())
        headers = {"x-request-id": f"req_bench{next(_ids):09d}"}
        if not body.get("stream"):
            return web.Response(body=self.completion_body, headers=headers, content_type="application/json")
        options = body.get("stream_options") or {}
        return await self._sse(request, {**headers, "Cache-Control": "no-cache"},
                               self.chat_body[options.get("include_usage") is True], b"bench")

    async def _sse(self, request: web.Request, headers: dict, events: list[bytes], ident: bytes):
        """The events `delay` apart, the first one carrying the request's id."""
        resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
        await resp.prepare(request)
        delay = self.delay
        self.open_streams += 1
        self.peak_streams = max(self.peak_streams, self.open_streams)
        try:
            await resp.write(events[0])
            for event in events[1:]:
                if delay:
                    await asyncio.sleep(delay)
                await resp.write(event)
            await resp.write_eof()
        finally:
            self.open_streams -= 1
        return resp

    async def bedrock(self, request: web.Request) -> web.StreamResponse:
        self.requests[_caller(request)] += 1
        await request.read()
        headers = {"x-amzn-requestid": f"bench{next(_ids):09d}"}
        if request.match_info["action"] == "invoke":
            return web.Response(body=self.json_body.replace(b"__ID__", b"bedrock"), headers=headers,
                                content_type="application/json")
        resp = web.StreamResponse(headers={**headers, "Content-Type": "application/vnd.amazon.eventstream"})
        await resp.prepare(request)
        self.open_streams += 1
        self.peak_streams = max(self.peak_streams, self.open_streams)
        try:
            for index, frame in enumerate(self.bedrock_frames):
                if self.delay and index:
                    await asyncio.sleep(self.delay)
                await resp.write(frame)
            await resp.write_eof()
        finally:
            self.open_streams -= 1
        return resp

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        self.requests[_caller(request)] += 1
        await request.read()
        ident = f"bench{next(_ids):09d}".encode()
        if request.match_info["action"] != "streamGenerateContent":
            return web.Response(body=self.gemini_body.replace(b"__ID__", ident), content_type="application/json")
        return await self._sse(request, {}, self.gemini_stream, ident)

    async def set_config(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.configure(int(body.get("events", 20)), float(body.get("delay_ms", 0)))
        return web.json_response({"events": self.events, "delay_ms": self.delay * 1000})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": dict(self.requests), "peak_streams": self.peak_streams})


def make_app() -> web.Application:
    fake = Fake()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/messages", fake.messages)
    app.router.add_post("/v1/chat/completions", fake.chat)
    app.router.add_post("/model/{model}/{action:invoke|invoke-with-response-stream}", fake.bedrock)
    app.router.add_post(r"/v1beta/models/{model}:{action:[A-Za-z]+}", fake.gemini)
    app.router.add_post("/_bench/config", fake.set_config)
    app.router.add_get("/_bench/stats", fake.stats)
    return app


async def serve(host: str, port: int):
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        from uvloop import run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        run = asyncio.run
    with contextlib.suppress(KeyboardInterrupt, web.GracefulExit):
        run(serve(args.host, args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
