"""OpenAI Chat Completions (`/v1/chat/completions`): the protocol of the openai SDKs and of every
OpenAI-compatible client.

Every stream must be billable, so a streaming request that did not ask for
`stream_options.include_usage` asks the upstream for it anyway; the final usage chunk this adds (and
the `"usage":null` it adds to every other chunk) is taken out again, so the client receives the stream
it asked for. Only the chunk that carries usage is parsed; the others are relayed byte for byte (their
model name put back when the account mapped it).
"""

import json
import re

from billing.cost import Usage
from core import jsonutil
from gateway.dialects.base import SSEProcessor, sse_data
from gateway.dialects.openai import OpenAIDialect, dumps, read_tier, read_usage
from gateway.errors import bad_request

INCLUDE_USAGE = b'"stream_options":{"include_usage":true},'
_USAGE = re.compile(rb'"usage"\s*:\s*\{')
_NULL_USAGE = re.compile(rb',\s*"usage"\s*:\s*null|"usage"\s*:\s*null\s*,')
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')


def read_chat_usage(data, usage: Usage) -> Usage:
    return read_usage(data, usage, "prompt_tokens", "completion_tokens", "prompt_tokens_details")


class ChatStream(SSEProcessor):
    """`data: {chunk}` events ending with `data: [DONE]`, which is held back (`held`) until the pipeline
    has charged."""

    def __init__(self, *, hide_usage: bool, model_back: str | None, started: float):
        super().__init__(started)
        self.hide_usage = hide_usage  # the client did not ask for the usage chunk: it never sees it
        self.model_back = model_back.encode() if model_back else None
        self._model_field: bytes | None = None  # the upstream's `"model":"..."`, once seen
        self.saw_done = False

    @property
    def ended_cleanly(self) -> bool:
        return self.saw_done or self.saw_error

    def _event(self, block: bytes) -> bytes:
        if self.saw_done or block.startswith(b"data: [DONE]") or block.startswith(b"data:[DONE]"):
            self.saw_done = True
            self.held += block  # sent once the charge is settled
            return b""
        if b'"error"' in block[:16]:
            self.saw_error = True
            return block
        if b'"usage":{' in block or (b'"usage"' in block and _USAGE.search(block)):
            block = self._usage_chunk(block)
            if not block:
                return b""
        elif self.hide_usage and b'"usage"' in block:
            if b',"usage":null' in block:
                block = block.replace(b',"usage":null', b"", 1)
            else:
                block = _NULL_USAGE.sub(b"", block, count=1)
        if self.model_back is not None:
            block = self._model_back(block)
        return block

    def _usage_chunk(self, block: bytes) -> bytes:
        data = sse_data(block)
        chunk = jsonutil.parse(data) if data else None
        if not isinstance(chunk, dict):
            return block
        read_chat_usage(chunk.get("usage"), self.usage)
        read_tier(chunk, self.usage)
        if not self.hide_usage:
            return block
        if not chunk.get("choices"):
            return b""  # the chunk the gateway asked for
        chunk.pop("usage", None)  # usage riding on a content chunk (some compatible servers)
        return b"data: " + dumps(chunk) + b"\n\n"

    def _model_back(self, block: bytes) -> bytes:
        if self._model_field is None:
            found = _MODEL.search(block)
            if found is None:
                return block
            self._model_field = found.group(0)
        if self._model_field not in block:
            return block
        return block.replace(self._model_field, b'"model":' + json.dumps(self.model_back.decode()).encode(), 1)


class OpenAIChat(OpenAIDialect):
    name = "openai-chat"

    def check(self, data):
        options = data.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise bad_request("stream_options must be an object")

    def prepare(self, inbound):
        options = inbound.data.get("stream_options") or {}
        inbound.params["add_usage"] = inbound.stream and options.get("include_usage") is not True

    def body_for(self, inbound, mapped_model):
        if not inbound.params.get("add_usage"):
            return super().body_for(inbound, mapped_model)
        data = inbound.data
        if mapped_model == inbound.model and "stream_options" not in data:
            # The common case, without re-encoding a prompt that may be megabytes long.
            body = inbound.body
            start = body.find(b"{") + 1
            return body[:start] + INCLUDE_USAGE + body[start:]
        options = {**(data.get("stream_options") or {}), "include_usage": True}
        return json.dumps({**data, "model": mapped_model, "stream_options": options}, ensure_ascii=False).encode()

    def read_answer(self, data, usage, inbound):
        read_chat_usage(data.get("usage"), usage)

    def stream_processor(self, inbound, mapped_model, ttl_target):
        model_back = inbound.model if mapped_model != inbound.model else None
        return ChatStream(hide_usage=inbound.params.get("add_usage", False), model_back=model_back,
                          started=inbound.started)
