"""A fake Gemini API (Google AI Studio): a real aiohttp server on 127.0.0.1 that speaks generateContent.

It checks the key as Google does (`x-goog-api-key`; an unknown key is Google's 400 API_KEY_INVALID) and
answers `POST /v1beta/models/{model}:{action}`:
- `generateContent`: a GenerateContentResponse (JSON);
- `streamGenerateContent?alt=sse`: `data: {...}\\r\\n\\r\\n` events; without `alt=sse`: one JSON array,
  its elements written one by one as Google does;
- `countTokens`: `{"totalTokens": ...}`.
Usage carries cached and thought tokens where the reply says so; errors are Google-shaped, 429s with
RetryInfo / QuotaFailure details (`rate_limited()`).

    fake = GeminiFake().start()       # fake.url; an account's base_url (or settings.GEMINI_BASE_URL)
    fake.reply(GeminiReply(body=response(usage_=usage_metadata(prompt=100, cached=40, thoughts=7))))
    fake.reply(GeminiReply(chunks=stream_chunks(texts=("a", "b"))))
    fake.reply(GeminiReply(status=429, body=rate_limited(retry_delay="37s")))
    fake.requests[-1].model, .action, .query, .headers["x-goog-api-key"], .json
"""

import asyncio
import json
import re
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.anthropic import AnthropicFake, Recorded

API_KEY = "AIzaSy-fake-gemini-key-0"
MODEL = "gemini-2.5-flash"
_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<action>[A-Za-z]+)$")
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
          500: "INTERNAL", 503: "UNAVAILABLE"}


def usage_metadata(prompt=12, candidates=5, cached=0, thoughts=0) -> dict:
    data = {"promptTokenCount": prompt, "candidatesTokenCount": candidates,
            "totalTokenCount": prompt + candidates + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}
    if cached:
        data["cachedContentTokenCount"] = cached
        data["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        data["thoughtsTokenCount"] = thoughts
    return data


def response(text="Hello from the fake Gemini", model=MODEL, usage_=None, finish="STOP") -> dict:
    candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": usage_ if usage_ is not None else usage_metadata(),
            "modelVersion": model, "responseId": "fake-response-id"}


def stream_chunks(texts=("Hello", " from", " the fake"), model=MODEL, usage_=None) -> list[dict]:
    """The chunks of one streamed answer: each repeats the running usage, the last one finishes with the
    final counts (as Gemini does)."""
    final = usage_ if usage_ is not None else usage_metadata()
    chunks = []
    for index, text in enumerate(texts):
        last = index == len(texts) - 1
        running = final if last else {"promptTokenCount": final["promptTokenCount"],
                                      "totalTokenCount": final["promptTokenCount"]}
        chunks.append(response(text=text, model=model, usage_=running, finish="STOP" if last else None))
    return chunks


def error(code: int, message: str, details=None) -> dict:
    body = {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}
    if details is not None:
        body["details"] = details
    return {"error": body}


def rate_limited(retry_delay: str | None = "37s", daily=False, message=None) -> dict:
    """Google's 429: QuotaFailure (a per-minute or per-day quota) and RetryInfo details."""
    quota = f"GenerateRequestsPer{'Day' if daily else 'Minute'}PerProjectPerModel-FreeTier"
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": quota, "quotaDimensions": {"location": "global", "model": MODEL}, "quotaValue": "10"}]}]
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    text = message or ("You exceeded your current quota, please check your plan and billing details."
                       + (f" Please retry in {retry_delay[:-1]}.5s." if retry_delay else ""))
    return error(429, text, details)


def key_invalid() -> dict:
    return error(400, "API key not valid. Please pass a valid API key.", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])


def sse(chunks) -> bytes:
    return b"".join(b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\r\n\r\n" for c in chunks)


def array_parts(chunks) -> list[bytes]:
    """The JSON-array stream as Google writes it: `[{...}`, `,\\r\\n{...}`, ..., `]`."""
    parts = [(b"[" if i == 0 else b",\r\n") + json.dumps(c, indent=2).encode() for i, c in enumerate(chunks)]
    return parts + [b"]"]


@dataclass
class GeminiReply:
    status: int = 200
    body: dict | bytes | None = None  # JSON answer (an error for status >= 400)
    chunks: list | None = None  # a stream's chunks (default: stream_chunks())
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds between stream chunks
    close_after: int | None = None  # drop the connection after N chunks (a broken stream)
    raw_stream: bytes | None = None  # exactly these bytes as the SSE body


class GeminiFake(AnthropicFake):
    def __init__(self, api_keys=(API_KEY,)):
        super().__init__()
        self.api_keys = set(api_keys)

    async def _handle(self, request: web.Request):
        body = await request.read()
        record = Recorded(method=request.method, path=request.path, query=dict(request.query),
                          headers={k.lower(): v for k, v in request.headers.items()}, body=body)
        match = _PATH.match(request.path)
        record.model, record.action = (match["model"], match["action"]) if match else ("", "")
        self.requests.append(record)
        if request.headers.get("x-goog-api-key") not in self.api_keys:
            record.completed = True
            return web.json_response(key_invalid(), status=400)
        if match is None or request.method != "POST":
            return web.json_response(error(404, f"{request.path} not found"), status=404)
        reply = self._replies.popleft() if self._replies else GeminiReply()
        headers = {"x-request-id": "fake-gemini-request", **reply.headers}
        if reply.status >= 400 or record.action != "streamGenerateContent":
            if reply.status < 400 and reply.body is None:
                reply.body = {"totalTokens": 42} if record.action == "countTokens" else response(model=record.model)
            raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body, indent=2).encode()
            record.completed = True
            return web.Response(status=reply.status, body=raw,
                                headers={"content-type": "application/json; charset=UTF-8", **headers})
        return await self._stream_chunks(request, reply, record, headers)

    async def _stream_chunks(self, request, reply, record, headers):
        chunks = reply.chunks if reply.chunks is not None else stream_chunks(model=record.model)
        as_sse = request.query.get("alt") == "sse"
        if reply.raw_stream is not None:
            parts = [reply.raw_stream]
        elif as_sse:
            parts = [sse([c]) for c in chunks]
        else:
            parts = array_parts(chunks)
        content_type = "text/event-stream" if as_sse else "application/json; charset=UTF-8"
        response_ = web.StreamResponse(status=200, headers={"content-type": content_type, **headers})
        await response_.prepare(request)
        try:
            for index, part in enumerate(parts):
                if reply.close_after is not None and index == reply.close_after:
                    await asyncio.sleep(0.2)
                    if request.transport is not None:
                        request.transport.close()
                    return response_
                if reply.delay and index:
                    await asyncio.sleep(reply.delay)
                await response_.write(part)
            await response_.write_eof()
            record.completed = True
        except (ConnectionResetError, ConnectionError):
            record.disconnected = True
        return response_
