"""What a dialect is: one client protocol (Anthropic Messages, OpenAI Chat Completions and Responses,
Gemini generateContent) as the pipeline needs it.

A dialect reads a request (model, stream flag, the client headers an upstream may see, session hints,
size and string checks), shapes every error the gateway answers with, knows its stream's ping and error
events, reads token usage out of a JSON answer and out of a stream, and lists models. It knows nothing
of accounts: the upstream adapter turns the provider's answer into the dialect's bytes first.
"""

import json
import time
import uuid
from dataclasses import dataclass, field

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse

from billing.cost import Usage
from core import jsonutil
from gateway.errors import GatewayError, bad_request

MAX_MODEL_NAME = 256
MAX_FORWARDED_HEADER = 4096  # a client header value passed upstream is cut to this many characters


def stored_text(value, field: str, max_length: int | None = None) -> str:
    """A body string the gateway keeps (in the usage log, a session key): text a database can store, or
    a 400 in the caller's shape. Lone surrogates ("\\ud800") are valid JSON but no valid UTF-8."""
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(f"{field} is not valid UTF-8 text")
    if "\x00" in value:
        raise bad_request(f"{field} must not contain NUL characters")
    if max_length is not None and len(value) > max_length:
        raise bad_request(f"{field} is longer than {max_length} characters")
    return value


def forwarded_header(value: str) -> str:
    return value[:MAX_FORWARDED_HEADER]


@dataclass
class Inbound:
    """One client request as its dialect read it."""

    dialect: "Dialect"
    action: str  # what is asked of the upstream: "messages", "count_tokens", "chat", "generate", ...
    endpoint: str  # the path, for the usage log
    body: bytes
    data: dict
    model: str
    stream: bool
    headers: dict = field(default_factory=dict)  # client headers an upstream may see (lower-case names)
    user_agent: str = ""
    params: dict = field(default_factory=dict)  # what else the dialect read (query flags, path parts)
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)  # slot holder id
    started: float = field(default_factory=time.monotonic)
    # A sticky key the answer created, bound to the answering account once it is over (an OpenAI
    # response id that later requests may continue from).
    produced: str | None = None

    @property
    def request_id(self) -> str:
        """The usage log's idempotency key."""
        return f"client:{self.holder}"


def read_json_object(request, not_an_object: str) -> tuple[bytes, dict]:
    """The request body and the JSON object it holds; 413 / 400 (with `not_an_object`) otherwise."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise GatewayError(413, "Request body too large", error_type="request_too_large")
    if not body:
        raise bad_request("Request body is empty")
    data = jsonutil.parse(body)
    if not isinstance(data, dict):
        raise bad_request(not_an_object)
    return body, data


def read_model_request(request) -> tuple[bytes, dict, str]:
    """A JSON object body that names its `model` (text the usage log can store), or the 4xx for it."""
    body, data = read_json_object(request, "Failed to parse request body")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required")
    return body, data, stored_text(model, "model", MAX_MODEL_NAME)


def client_headers(request, names: frozenset, prefix: str = "") -> dict:
    """The client's headers an upstream may see: those in `names` or starting with `prefix` (lower case)."""
    headers = {}
    for name, value in request.META.items():
        if not name.startswith("HTTP_") and name != "CONTENT_TYPE":
            continue
        lower = name.removeprefix("HTTP_").replace("_", "-").lower()
        if lower in names or (prefix and lower.startswith(prefix)):
            headers[lower] = forwarded_header(value)
    return headers


class StreamProcessor:
    """Upstream stream bytes (already in the dialect's format) in, the client's bytes out; reads usage."""

    def __init__(self, started: float):
        self.usage = Usage()
        self.started = started or time.monotonic()
        self.first_token_ms: int | None = None
        self.saw_error = False
        # The stream's terminal event (and anything after it), held back by `feed`: the pipeline sends it
        # once the charge is settled, so a client that got the whole stream has been charged.
        self.held = b""

    def _first_bytes(self):
        if self.first_token_ms is None:
            self.first_token_ms = int((time.monotonic() - self.started) * 1000)

    def feed(self, chunk: bytes) -> bytes:
        raise NotImplementedError

    def flush(self) -> bytes:
        """What is left when the upstream closed."""
        return b""

    @property
    def ended_cleanly(self) -> bool:
        """The stream reached its terminal event (or an error event the client has seen)."""
        raise NotImplementedError


class SSEProcessor(StreamProcessor):
    """A stream of server-sent events, cut into blocks (one event each, its blank line included) that
    `_event` turns into the client's bytes."""

    def __init__(self, started: float):
        super().__init__(started)
        self._buffer = b""

    def feed(self, chunk: bytes) -> bytes:
        if chunk:
            self._first_bytes()
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r\n" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        out = []
        start = 0
        while (end := buffer.find(b"\n\n", start)) >= 0:
            out.append(self._event(buffer[start:end + 2]))
            start = end + 2
        self._buffer = buffer[start:]
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self._buffer = self._buffer, b""
        return self._event(rest) if rest.strip() else b""

    def _event(self, block: bytes) -> bytes:
        raise NotImplementedError


def sse_data(block: bytes) -> bytes | None:
    """The data of one event block (its `data:` lines joined), or None when it has none."""
    lines = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


class Dialect:
    name = ""
    protocol = ""  # the error shape's family: "anthropic" | "openai" | "google"
    platforms: frozenset = frozenset()  # group platforms whose keys may use it
    ping_event = b""
    stream_content_type = "text/event-stream"
    accepts_query_key = False  # whether the client may send its key as ?key= (Gemini's clients do)
    probe_model = ""  # the model an account test asks for when the account names none (gateway.probe)

    # --- reading the request --------------------------------------------------------------------------
    def read(self, request, action: str, **path) -> Inbound:
        raise NotImplementedError

    def wrong_platform(self, path: str, platform: str) -> GatewayError:
        """The refusal of a key whose group's platform this dialect does not serve."""
        return GatewayError(404, f"{path} is not available for {platform} groups", error_type="not_found_error")

    def session_hash(self, inbound: Inbound, request, client_ip: str, key_id: int) -> str | None:
        return None

    def continues(self, inbound: Inbound) -> str | None:
        """A sticky key whose account must be tried before the session's: the one that produced what
        this request continues (an OpenAI previous_response_id). None: nothing is continued."""
        return None

    def body_for(self, inbound: Inbound, mapped_model: str) -> bytes:
        """The body the upstream gets: the client's bytes, unless a rule (the account's model mapping)
        must change them."""
        if mapped_model == inbound.model:
            return inbound.body
        return json.dumps({**inbound.data, "model": mapped_model}, ensure_ascii=False).encode()

    # --- answers ---------------------------------------------------------------------------------------
    def answer_json(self, raw: bytes, inbound: Inbound, mapped_model: str, ttl_target) -> tuple[bytes, Usage, bool]:
        """(the client's body, the usage read from it, whether the S5 cache-TTL override changed it).
        An answer naming the mapped model is renamed back to the requested one."""
        raise NotImplementedError

    def stream_processor(self, inbound: Inbound, mapped_model: str, ttl_target) -> StreamProcessor:
        raise NotImplementedError

    def models(self, names: list[str]) -> JsonResponse:
        raise NotImplementedError

    def model(self, name: str, names: list[str]) -> HttpResponse:
        """One model of the list (`GET .../models/{name}`) in the list's own entry shape, else a 404."""
        listed = json.loads(self.models(names).content)
        entry = next((e for e in listed.get("data") or () if isinstance(e, dict) and e.get("id") == name), None)
        if entry is None:
            return self.error_response(404, f"model {name[:200]} not found", error_type="not_found_error")
        return JsonResponse(entry)

    def probe_inbound(self, model: str) -> Inbound:
        """The smallest request that shows whether an account works (the admin's account test)."""
        raise NotImplementedError

    # --- errors ----------------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, *, code=None, error_type=None) -> dict:
        raise NotImplementedError

    def error_response(self, status: int, message: str, *, code=None, error_type=None) -> HttpResponse:
        body = self.error_body(status, message, code=code, error_type=error_type)
        return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")

    def error_event(self, status: int, message: str, *, error_type=None) -> bytes:
        """An error after the stream started: the status line is gone, so it travels as an event."""
        raise NotImplementedError

    def relayed_error_event(self, response: HttpResponse) -> bytes:
        """An upstream's error answer, for a client whose stream already started."""
        return self.error_event(response.status_code, "Upstream request failed", error_type="api_error")
