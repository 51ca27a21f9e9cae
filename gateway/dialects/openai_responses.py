"""OpenAI Responses (`/v1/responses` and `/v1/responses/{subpath}` such as `compact`): the protocol of
Codex and of the openai SDKs' `responses` API.

A request that continues a response (`previous_response_id`) goes first to the account that produced
it: every answer's response id is bound to its account once the answer is over (Inbound.produced).
Usage comes from the terminal event (`response.completed`, `.incomplete`, `.failed`); only that event,
`response.created` (the id) and, when the account mapped the model, the other events carrying the
response object are parsed; everything else is relayed byte for byte.
"""

import re

from billing.cost import Usage
from core import jsonutil
from gateway.dialects.base import SSEProcessor, sse_data
from gateway.dialects.openai import OpenAIDialect, dumps, read_tier, read_usage, response_key
from gateway.errors import bad_request

TERMINAL = frozenset({b"response.completed", b"response.incomplete", b"response.failed", b"response.done"})
WITH_RESPONSE = frozenset({b"response.created", b"response.in_progress", b"response.queued"})
_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z_.]+)"')


def read_responses_usage(data, usage: Usage) -> Usage:
    return read_usage(data, usage, "input_tokens", "output_tokens", "input_tokens_details")


def _event_type(block: bytes) -> bytes:
    if block.startswith(b"event:"):
        end = block.find(b"\n")
        return block[6:end if end >= 0 else None].strip()
    found = _TYPE.search(block, 0, 200)
    return found.group(1) if found else b""


def _check_tool_outputs(data: dict) -> None:
    """A function_call_output needs its call: in the input, or in the response it continues (spec §3.2)."""
    items = data.get("input")
    if not isinstance(items, list):
        return
    items = [item for item in items if isinstance(item, dict)]
    outputs = [item for item in items if item.get("type") == "function_call_output"]
    if not outputs:
        return
    for item in outputs:
        if not isinstance(item.get("call_id"), str) or not item["call_id"]:
            raise bad_request("function_call_output items need the call_id of the function_call they answer")
    if data.get("previous_response_id") or data.get("conversation") or any(
            item.get("type") == "item_reference" for item in items):
        return
    calls = {item.get("call_id") for item in items if item.get("type") == "function_call"}
    for item in outputs:
        if item["call_id"] not in calls:
            raise bad_request(
                f"No function_call with call_id {item['call_id'][:100]!r} for this function_call_output: send the "
                "function_call item in input too, or previous_response_id of the response that made the call")


class ResponsesStream(SSEProcessor):
    """`event: response.*` events ending with a terminal one, which (with anything after it) is held back
    (`held`) until the pipeline has charged."""

    def __init__(self, inbound, *, model_back: str | None):
        super().__init__(inbound.started)
        self.inbound = inbound
        self.model_back = model_back
        self.saw_end = False

    @property
    def ended_cleanly(self) -> bool:
        return self.saw_end or self.saw_error

    def _event(self, block: bytes) -> bytes:
        if self.saw_end:
            self.held += block
            return b""
        out = self._relayed(block)
        if self.saw_end:
            self.held += out
            return b""
        return out

    def _relayed(self, block: bytes) -> bytes:
        kind = _event_type(block)
        if kind in TERMINAL:
            self.saw_end = True
        elif kind == b"error":
            self.saw_error = True
            return block
        elif kind != b"response.created" and not (self.model_back and kind in WITH_RESPONSE):
            return block
        data = sse_data(block)
        event = jsonutil.parse(data) if data else None
        response = event.get("response") if isinstance(event, dict) else None
        if not isinstance(response, dict):
            return block
        if kind in TERMINAL:
            read_responses_usage(response.get("usage"), self.usage)
            read_tier(response, self.usage)
        elif kind == b"response.created" and isinstance(response.get("id"), str):
            self.inbound.produced = response_key(response["id"])
        if not self.model_back or response.get("model") in (None, self.model_back):
            return block
        response["model"] = self.model_back
        head = b"event: " + kind + b"\n" if block.startswith(b"event:") else b""
        return head + b"data: " + dumps(event) + b"\n\n"


class OpenAIResponses(OpenAIDialect):
    name = "openai-responses"

    def check(self, data):
        previous = data.get("previous_response_id")
        if previous is not None and not (isinstance(previous, str) and previous.startswith("resp_")):
            what = "a message id" if isinstance(previous, str) and previous.startswith("msg_") else "not one"
            raise bad_request(f"previous_response_id must be a response id (resp_...), {what} was given")
        if data.get("background") is True:
            raise bad_request("Background responses are not supported by this gateway")
        _check_tool_outputs(data)

    def continues(self, inbound):
        previous = inbound.data.get("previous_response_id")
        return response_key(previous) if previous else None

    def read_answer(self, data, usage, inbound):
        read_responses_usage(data.get("usage"), usage)
        if isinstance(data.get("id"), str) and data["id"].startswith("resp_"):
            inbound.produced = response_key(data["id"])

    def stream_processor(self, inbound, mapped_model, ttl_target):
        return ResponsesStream(inbound, model_back=inbound.model if mapped_model != inbound.model else None)

    def stream_error(self, error):
        # A Responses `error` event, with the error object too so that the SDKs raise it.
        event = {"type": "error", "code": error.get("code"), "message": error.get("message"),
                 "param": error.get("param"), "error": error}
        return b"event: error\ndata: " + dumps(event) + b"\n\n"
