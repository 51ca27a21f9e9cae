"""Google's Gemini protocol (`/v1beta/models/{model}:{action}` and the same under `/v1`): what the
google-genai SDKs and the Gemini CLI speak.

- The model is in the path, not the body, so the body is relayed as the client sent it.
- Errors are `{"error":{"code","message","status"}}`, with the gateway's own reason (the S7 codes) in
  `details` as a google.rpc.ErrorInfo, so scripts can tell the gateway's limits from Google's.
- Usage comes from `usageMetadata`: input = prompt − cached, output = candidates + thoughts, cache read
  = cached; in a stream, the last event that carries it (each one repeats the running totals).
- `streamGenerateContent?alt=sse` is relayed event by event; without `alt=sse` the client gets one JSON
  array whose elements are sent as they arrive (GeminiArrayStream). The upstream is always asked for SSE.
- Keep-alive bytes are a bare newline: valid whitespace in a JSON array, and an empty line that the
  SDKs' SSE readers skip (a `:` comment line is not: the Python SDK would try to parse it as JSON).
"""

import hashlib
import json
import re

from django.http import JsonResponse

from billing.cost import Usage
from core import jsonutil
from gateway import sessions
from gateway.cachettl import as_int
from gateway.dialects.base import Dialect, Inbound, StreamProcessor, client_headers, read_json_object
from gateway.errors import GatewayError, bad_request

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}
# action → whether the answer streams
ACTIONS = {"generateContent": False, "streamGenerateContent": True, "countTokens": False}
# Client headers worth passing on upstream; the key, cookies and hop-by-hop headers stay here.
PASSTHROUGH_HEADERS = frozenset({"user-agent", "x-goog-api-client", "accept-language"})
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
GENERATION_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
# (id, display name, input token limit, output token limit): answered when the group maps no models.
DEFAULT_MODELS = (
    ("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, 65_536),
    ("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536),
    ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 1_048_576, 65_536),
    ("gemini-2.0-flash", "Gemini 2.0 Flash", 1_048_576, 8_192),
    ("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", 1_048_576, 8_192),
    ("gemini-3-pro-preview", "Gemini 3 Pro Preview", 1_048_576, 65_536),
    ("gemini-3-flash-preview", "Gemini 3 Flash Preview", 1_048_576, 65_536),
)
# The Gemini CLI names its project's temp dir (~/.gemini/tmp/<sha256 of the project root>) in its prompt.
CLI_PROJECT = re.compile(rb"\.gemini/tmp/([0-9a-f]{64})")
CLI_USER_HEADER = "x-gemini-api-privileged-user-id"


# --- usage -----------------------------------------------------------------------------------------------
def read_usage(metadata) -> Usage:
    """A `usageMetadata` object as the gateway bills it."""
    if not isinstance(metadata, dict):
        return Usage()
    prompt = as_int(metadata.get("promptTokenCount"))
    cached = as_int(metadata.get("cachedContentTokenCount"))
    output = as_int(metadata.get("candidatesTokenCount")) + as_int(metadata.get("thoughtsTokenCount"))
    return Usage(input_tokens=max(prompt - cached, 0), output_tokens=output, cache_read_tokens=cached)


def _rename(chunk: dict, model: str) -> bool:
    """Put the requested model name back where the upstream named the mapped one."""
    if chunk.get("modelVersion") not in (None, model):
        chunk["modelVersion"] = model
        return True
    return False


# --- the stream ------------------------------------------------------------------------------------------
def _event_end(buffer: bytes, start: int) -> int:
    """Where the SSE event starting at `start` ends (after its blank line, LF or CRLF), or -1."""
    lf = buffer.find(b"\n\n", start)
    crlf = buffer.find(b"\n\r\n", start)
    if crlf < 0 or 0 <= lf < crlf:
        return -1 if lf < 0 else lf + 2
    return crlf + 3


def _data(block: bytes) -> bytes:
    lines = [line[5:].strip() for line in block.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines)


class GenerateStream(StreamProcessor):
    """Gemini SSE from the upstream, split into events; relayed as they are (`alt=sse`) or as the elements
    of one JSON array (`array` = the request's GeminiArrayStream). Only the last event carrying
    `usageMetadata` is parsed, when the usage is asked for; no other event is parsed unless the model
    name must be put back. The chunk that finishes the answer is held back (`held`) until the pipeline
    has charged."""

    def __init__(self, *, model_back: str | None = None, array: "GeminiArrayStream | None" = None,
                 started: float = 0.0):
        super().__init__(started)
        self.model_back = model_back
        self.array = array
        self.saw_end = False
        self._usage_data: bytes | None = None  # the last usage-carrying event's JSON, parsed on demand
        self._buffer = b""

    @property
    def usage(self) -> Usage:
        if self._usage_data is not None:
            data = jsonutil.parse(self._usage_data)
            self._usage = read_usage(data.get("usageMetadata") if isinstance(data, dict) else None)
            self._usage_data = None
        return self._usage

    @usage.setter
    def usage(self, value: Usage):
        self._usage = value

    @property
    def ended_cleanly(self) -> bool:
        return self.saw_end or self.saw_error

    def feed(self, chunk: bytes) -> bytes:
        if chunk:
            self._first_bytes()
        buffer = self._buffer + chunk if self._buffer else chunk
        out = []
        start = 0
        while (end := _event_end(buffer, start)) >= 0:
            if part := self._event(buffer[start:end]):
                out.append(part)
            start = end
        self._buffer = buffer[start:]
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self._buffer = self._buffer, b""
        out = self._event(rest) if rest.strip() else b""
        if self.array is not None and self.ended_cleanly:
            if self.held:
                self.held += self.array.close()  # the array ends after the held-back last element
            else:
                out += self.array.close()
        return out

    def _event(self, block: bytes) -> bytes:
        data = _data(block)
        if not data:
            return b"" if self.array is not None else block  # comments and blank lines: nothing to put in an array
        if b'"usageMetadata"' in data:
            self._usage_data = data
        if b'"finishReason"' in data or b'"blockReason"' in data:
            self.saw_end = True
        elif data.startswith(b'{"error"'):
            self.saw_error = True
        if self.model_back and b'"modelVersion"' in data:
            event = jsonutil.parse(data)
            if isinstance(event, dict) and _rename(event, self.model_back):
                data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
                block = b"data: " + data + b"\r\n\r\n"
        result = self.array.element(data) if self.array is not None else block
        if self.saw_end:  # the last chunk (and anything after it) leaves once the charge is settled
            self.held += result
            return b""
        return result


# --- the dialect -----------------------------------------------------------------------------------------
def model_entry(name: str, display: str | None = None, input_limit: int | None = None,
                output_limit: int | None = None) -> dict:
    entry = {"name": f"models/{name}", "baseModelId": name, "version": "001", "displayName": display or name,
             "description": display or name, "supportedGenerationMethods": GENERATION_METHODS}
    if input_limit:
        entry["inputTokenLimit"] = input_limit
    if output_limit:
        entry["outputTokenLimit"] = output_limit
    return entry


class GeminiDialect(Dialect):
    name = "gemini"
    protocol = "google"
    platforms = frozenset({"gemini"})
    accepts_query_key = True
    actions = frozenset(ACTIONS)  # what `models/{model}:{action}` may ask
    ping_event = b"\n"
    probe_model = "gemini-2.5-flash"

    def wrong_platform(self, path, platform):
        return GatewayError(400, "API key group platform is not gemini", error_type="invalid_request_error")

    # --- reading the request --------------------------------------------------------------------------
    def read(self, request, action, **path):
        model = path.get("model") or ""
        if not MODEL_NAME.match(model):
            raise bad_request(f"Invalid model name: {model[:200]!r}")
        body, data = read_json_object(request, "Invalid JSON payload: the request body must be a JSON object")
        headers = client_headers(request, PASSTHROUGH_HEADERS)
        stream = ACTIONS[action]
        dialect = self if not stream or request.GET.get("alt") == "sse" else GeminiArrayStream()
        return Inbound(
            dialect=dialect, action=action, endpoint=request.path, body=body, data=data, model=model,
            stream=stream, headers=headers, user_agent=request.META.get("HTTP_USER_AGENT", ""),
            params={"cli_user": request.META.get("HTTP_X_GEMINI_API_PRIVILEGED_USER_ID", "")},
        )

    def body_for(self, inbound, mapped_model):
        return inbound.body  # the model travels in the URL

    def session_hash(self, inbound, request, client_ip, key_id):
        """The Gemini CLI's project (its temp dir hash, with the CLI's user id), else the generic hash."""
        if inbound.action == "countTokens":
            return None
        if project := CLI_PROJECT.search(inbound.body):
            seed = f"{inbound.params.get('cli_user', '')}:{project.group(1).decode()}:{key_id}"
            return "gemini:" + hashlib.sha256(seed.encode()).hexdigest()
        return sessions.session_hash(inbound.data, request.headers, client_ip, key_id, platform="gemini") or None

    def probe_inbound(self, model):
        data = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 256}}
        return Inbound(dialect=self, action="generateContent", endpoint="", body=json.dumps(data).encode(), data=data,
                       model=model, stream=False)

    # --- answers ---------------------------------------------------------------------------------------
    def answer_json(self, raw, inbound, mapped_model, ttl_target):
        data = jsonutil.parse(raw)
        # An upstream that answered a stream request as one JSON array: its last element has the totals.
        chunks = data if isinstance(data, list) else [data]
        chunks = [c for c in chunks if isinstance(c, dict)]
        last = next((c for c in reversed(chunks) if "usageMetadata" in c), None)
        usage = read_usage(last.get("usageMetadata")) if last is not None else Usage()
        if mapped_model != inbound.model and any([_rename(c, inbound.model) for c in chunks]):
            raw = json.dumps(data, ensure_ascii=False).encode()
        return raw, usage, False

    def stream_processor(self, inbound, mapped_model, ttl_target):
        model_back = inbound.model if mapped_model != inbound.model else None
        array = inbound.dialect if isinstance(inbound.dialect, GeminiArrayStream) else None
        return GenerateStream(model_back=model_back, array=array, started=inbound.started)

    def models(self, names):
        entries = [model_entry(n) for n in names] if names else [model_entry(*m) for m in DEFAULT_MODELS]
        return JsonResponse({"models": entries})

    def model(self, name, names):
        name = name.removeprefix("models/")
        known = {m[0]: m for m in DEFAULT_MODELS}
        if names and name in names:
            return JsonResponse(model_entry(name))
        if not names and name in known:
            return JsonResponse(model_entry(*known[name]))
        return self.error_response(404, f"models/{name[:200]} is not found", error_type="not_found_error")

    # --- errors ----------------------------------------------------------------------------------------
    def error_body(self, status, message, *, code=None, error_type=None):
        error = {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
        if code:
            error["message"] = f"{message} ({code})"
            error["details"] = [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code, "domain": "subrelay",
            }]
        return {"error": error}

    def error_event(self, status, message, *, error_type=None):
        return self.event(self.error_body(status, message))

    def relayed_error_event(self, response):
        body = jsonutil.parse(response.content)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return self.event(body)
        return super().relayed_error_event(response)

    def event(self, body: dict) -> bytes:
        return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\r\n\r\n"


class GeminiArrayStream(GeminiDialect):
    """`streamGenerateContent` without `alt=sse`: one JSON array, each element sent as it arrives.

    One instance per request, because what may follow depends on how far the array got: an error after
    the start must still leave a valid array (`,{"error":...}]`, or `[{"error":...}]` before any element).
    """

    stream_content_type = "application/json"

    def __init__(self):
        self.opened = False
        self.closed = False

    def element(self, data: bytes) -> bytes:
        if self.closed:
            return b""
        prefix = b",\r\n" if self.opened else b"["
        self.opened = True
        return prefix + data

    def close(self) -> bytes:
        if self.closed:
            return b""
        self.closed = True
        return b"]" if self.opened else b"[]"

    def event(self, body):
        if self.closed:
            return b""
        return self.element(json.dumps(body, ensure_ascii=False).encode()) + self.close()
