"""Anthropic SSE relaying: split the upstream byte stream into events, read usage, rewrite the few
events a rule changes, and hand every other event on byte for byte.

Only `message_start` and `message_delta` are parsed (usage, cache-TTL override, model name mapped back).
"""

import json
import time

from billing.cost import Usage
from core import jsonutil
from gateway import cachettl
from gateway.usage import merge_delta, read_usage

_PARSED = (b"message_start", b"message_delta")


def _event_type(block: bytes) -> bytes:
    """The `event:` name of a block, else the JSON `type` seen in its data (cheap substring checks)."""
    if block.startswith(b"event:"):
        end = block.find(b"\n")
        return block[6:end if end >= 0 else None].strip()
    for name in (*_PARSED, b"message_stop", b"error"):
        if b'"type":"' + name + b'"' in block or b'"type": "' + name + b'"' in block:
            return name
    return b""


def _data(block: bytes) -> bytes | None:
    lines = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


class StreamProcessor:
    """Feed upstream chunks in, get the bytes to send to the client out."""

    def __init__(self, *, ttl_target: str | None = None, model_back: str | None = None, started: float = 0.0):
        self.usage = Usage()
        self.ttl_target = ttl_target
        self.model_back = model_back  # requested model to put back when the account mapped it
        self.started = started or time.monotonic()
        self.first_token_ms: int | None = None
        self.saw_start = False
        self.saw_stop = False
        self.saw_error = False
        self._buffer = b""

    def feed(self, chunk: bytes) -> bytes:
        if self.first_token_ms is None and chunk:
            self.first_token_ms = int((time.monotonic() - self.started) * 1000)
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
        """What is left when the upstream closed (an event without its blank line)."""
        rest, self._buffer = self._buffer, b""
        return self._event(rest) if rest.strip() else b""

    def _event(self, block: bytes) -> bytes:
        kind = _event_type(block)
        if kind == b"message_stop":
            self.saw_stop = True
        elif kind == b"error":
            self.saw_error = True
        if kind not in _PARSED:
            return block
        data = _data(block)
        event = jsonutil.parse(data) if data else None
        if not isinstance(event, dict):
            return block
        changed = False
        if kind == b"message_start":
            self.saw_start = True
            message = event.get("message") if isinstance(event.get("message"), dict) else {}
            usage = message.get("usage") if isinstance(message.get("usage"), dict) else None
            if usage is not None and self.ttl_target:
                changed |= cachettl.rewrite_nested(usage.get("cache_creation"), self.ttl_target)
            if usage is not None:
                read_usage(usage, self.usage)
            if self.model_back and message.get("model") not in (None, self.model_back):
                message["model"] = self.model_back
                changed = True
        else:
            usage = event.get("usage") if isinstance(event.get("usage"), dict) else None
            if usage is not None and self.ttl_target:
                changed |= cachettl.rewrite_nested(usage.get("cache_creation"), self.ttl_target)
            if usage is not None:
                merge_delta(usage, self.usage)
        if not changed:
            return block
        encoded = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        return b"event: " + kind + b"\ndata: " + encoded + b"\n\n"
