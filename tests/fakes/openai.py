"""A fake OpenAI API: a real aiohttp server on 127.0.0.1 speaking Chat Completions and Responses.

It is the Anthropic fake's server (tests/fakes/anthropic.py: Reply, Recorded, delay, hold_after,
close_after, drop) with OpenAI's answers (see the `openai_fake` fixture in tests/conftest.py):

    fake.reply(Reply(body=completion(usage_=chat_usage(prompt=100, completion=20, cached=60))))
    fake.reply(Reply(events=chat_chunks(texts=("Hel", "lo"))))        # Chat SSE (data: lines, [DONE])
    fake.reply(Reply(body=response(usage_=responses_usage(input=50))))  # Responses JSON
    fake.reply(Reply(events=response_events(texts=("a", "b"))))         # Responses SSE (event: lines)
    fake.reply(Reply(status=429, body=error("rate_limit_exceeded", "slow down"),
                     headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}))

A Chat stream is sent as OpenAI sends it for the request it answers: the final usage chunk (and
`"usage":null` in every other chunk) only when the request asked for `stream_options.include_usage`.
With nothing queued the fake answers the request's endpoint (JSON or SSE, as asked) with default usage
(10 input tokens, `default_cached` of them cached, 5 output).
"""

import itertools
import json
import time
import uuid

from tests.fakes.anthropic import AnthropicFake, Recorded, Reply

DEFAULT_MODEL = "gpt-4o-mini"
USAGE_CHUNK = "usage"  # the event name chat_chunks gives its usage chunk (never sent as a name)
DONE = "[DONE]"
CREATED = 1764547200

__all__ = ["OpenAIFake", "Recorded", "Reply", "chat_chunks", "chat_usage", "completion", "encode_chat", "error",
           "response", "response_events", "responses_usage"]


def chat_usage(prompt=10, completion=5, cached=0, reasoning=0) -> dict:
    return {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def completion(model=DEFAULT_MODEL, text="Hello from the OpenAI fake", usage_=None, service_tier="default",
               completion_id=None) -> dict:
    return {
        "id": completion_id or f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": CREATED,
        "model": model, "choices": [{
            "index": 0, "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None, "finish_reason": "stop",
        }],
        "usage": usage_ if usage_ is not None else chat_usage(), "service_tier": service_tier,
        "system_fingerprint": "fp_fake",
    }


def chat_chunks(model=DEFAULT_MODEL, texts=("Hello", " from", " the fake"), usage_=None, service_tier="default",
                completion_id=None) -> list[tuple]:
    """The events of one streamed completion as the fake may send them: chunks (name None), the usage
    chunk (name USAGE_CHUNK; sent only when asked for) and [DONE]."""
    ident = completion_id or f"chatcmpl-{uuid.uuid4().hex[:24]}"

    def chunk(delta, finish=None):
        return {"id": ident, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                "service_tier": service_tier, "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    events = [(None, chunk({"role": "assistant", "content": "", "refusal": None}))]
    events += [(None, chunk({"content": text})) for text in texts]
    events.append((None, chunk({}, "stop")))
    usage_chunk = {**chunk({}), "choices": [], "usage": usage_ if usage_ is not None else chat_usage()}
    events.append((USAGE_CHUNK, usage_chunk))
    events.append((None, DONE))
    return events


def as_sent(events, include_usage: bool) -> list[tuple]:
    """Chat events as OpenAI sends them to a request that did or did not ask for the usage chunk."""
    sent = []
    for name, data in events:
        if name == USAGE_CHUNK and not include_usage:
            continue
        if include_usage and isinstance(data, dict) and name != USAGE_CHUNK:
            data = {**data, "usage": None}
        sent.append((None, data))
    return sent


def encode(name, data) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {name}\n" if name else "").encode() + f"data: {payload}\n\n".encode()


def encode_chat(events, include_usage: bool) -> bytes:
    """The bytes OpenAI sends for these chat events."""
    return b"".join(encode(name, data) for name, data in as_sent(events, include_usage))


def responses_usage(input=10, output=5, cached=0, reasoning=0) -> dict:
    return {"input_tokens": input, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": input + output}


def response(model=DEFAULT_MODEL, text="Hello from the OpenAI fake", usage_=None, response_id=None,
             service_tier="default", status="completed") -> dict:
    ident = response_id or f"resp_{uuid.uuid4().hex}"
    output = [] if text is None else [{
        "id": f"msg_{ident[5:]}", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }]
    return {
        "id": ident, "object": "response", "created_at": CREATED, "status": status, "background": False,
        "error": None, "incomplete_details": None, "instructions": None, "max_output_tokens": None,
        "model": model, "output": output, "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "service_tier": service_tier, "store": True,
        "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
        "tools": [], "top_p": 1.0, "truncation": "disabled",
        "usage": (usage_ if usage_ is not None else responses_usage()) if status != "in_progress" else None,
        "user": None, "metadata": {},
    }


def response_events(model=DEFAULT_MODEL, texts=("Hello", " from", " the fake"), usage_=None, response_id=None,
                    service_tier="default", terminal="response.completed") -> list[tuple]:
    """The events of one streamed response, response.created to the terminal event."""
    final = response(model=model, text="".join(texts), usage_=usage_, response_id=response_id,
                     service_tier=service_tier, status="completed" if terminal == "response.completed" else
                     terminal.removeprefix("response."))
    item = final["output"][0]
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    sequence = itertools.count()
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}

    def event(kind, **fields):
        return kind, {"type": kind, "sequence_number": next(sequence), **fields}

    events = [event("response.created", response=started), event("response.in_progress", response=started),
              event("response.output_item.added", output_index=0,
                    item={**item, "status": "in_progress", "content": []}),
              event("response.content_part.added", item_id=item["id"], output_index=0, content_index=0, part=part)]
    events += [event("response.output_text.delta", item_id=item["id"], output_index=0, content_index=0, delta=text,
                     logprobs=[]) for text in texts]
    events += [event("response.output_text.done", item_id=item["id"], output_index=0, content_index=0,
                     text="".join(texts), logprobs=[]),
               event("response.content_part.done", item_id=item["id"], output_index=0, content_index=0,
                     part=item["content"][0]),
               event("response.output_item.done", output_index=0, item=item),
               event(terminal, response=final)]
    return events


def error(code: str, text: str, error_type: str | None = None) -> dict:
    return {"error": {"message": text, "type": error_type or code, "param": None, "code": code}}


class OpenAIFake(AnthropicFake):
    name = "openai-fake"
    request_id = {"x-request-id": "req_openai_fake"}
    default_cached = 0  # cached tokens (of 10 input tokens) in the answers given when nothing is queued

    def reset(self):
        super().reset()
        self.default_cached = 0

    def encode(self, name, data) -> bytes:
        return encode(name, data)

    async def _stream(self, request, reply: Reply, record: Recorded):
        if any(name == USAGE_CHUNK for name, _ in reply.events):
            options = _json(record.body).get("stream_options")
            include = isinstance(options, dict) and options.get("include_usage") is True
            reply = Reply(**{**reply.__dict__, "events": as_sent(reply.events, include)})
        return await super()._stream(request, reply, record)

    def _default(self, path: str, body: bytes) -> Reply:
        data = _json(body)
        model = data.get("model") if isinstance(data.get("model"), str) else DEFAULT_MODEL
        stream = data.get("stream") is True
        chat, responses = chat_usage(cached=self.default_cached), responses_usage(cached=self.default_cached)
        if path.endswith("/chat/completions"):
            if stream:
                return Reply(events=chat_chunks(model=model, usage_=chat))
            return Reply(body=completion(model=model, usage_=chat))
        if path.endswith("/responses/compact"):
            return Reply(body={"id": f"resp_{uuid.uuid4().hex}", "object": "response.compaction",
                               "created_at": int(time.time()), "output": [], "usage": responses_usage(input=30,
                                                                                                      output=8)})
        if "/responses" in path:
            if stream:
                return Reply(events=response_events(model=model, usage_=responses))
            return Reply(body=response(model=model, usage_=responses))
        return Reply(status=404, body=error("not_found", f"no route {path}", "invalid_request_error"))


def _json(body: bytes) -> dict:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
