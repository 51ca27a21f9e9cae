"""The protocols the benchmark drives, each as the gateway and the fake upstream speak it.

A provider says where a client sends its request (through subrelay) and where the same request goes
straight to the fake (as the gateway would send it), with which key, and how to tell a complete answer.
The fake upstream (bench/fake_upstream.py) answers every provider's upstream path.
"""

import json
from dataclasses import dataclass

MODEL = "claude-sonnet-4-5"
OPENAI_MODEL = "gpt-4o-mini"
PROMPT = "Say hello to the benchmark. " * 8
BEDROCK_MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
GEMINI_MODEL = "gemini-2.5-flash"


def anthropic_body(stream: bool) -> bytes:
    return json.dumps({
        "model": MODEL, "max_tokens": 256, "stream": stream,
        "messages": [{"role": "user", "content": PROMPT}],
    }).encode()


def anthropic_complete(data: bytes, stream: bool, deltas: int) -> str:
    """'' when the answer is complete, else why not."""
    if not stream:
        return "" if b'"usage"' in data else "no usage in the answer"
    seen = data.count(b"event: content_block_delta")
    if b"event: message_stop" not in data or seen != deltas:
        return f"incomplete stream ({seen} deltas)"
    return ""


def bedrock_complete(data: bytes, stream: bool, deltas: int) -> str:
    if not stream:
        return "" if b'"usage"' in data else "no usage in the answer"
    frames = data.count(b":event-type")  # one header per AWS event-stream frame
    return "" if frames == deltas + 6 else f"incomplete event stream ({frames} frames)"


def gemini_body(stream: bool) -> bytes:
    return json.dumps({
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}], "generationConfig": {"maxOutputTokens": 256},
    }).encode()


def gemini_complete(data: bytes, stream: bool, deltas: int) -> str:
    if not stream:
        return "" if b'"usageMetadata"' in data else "no usage in the answer"
    seen = data.count(b"data: ")  # one per SSE event; the bench's events are the deltas and the framing ones
    if b'"finishReason"' not in data or seen != deltas + 6:
        return f"incomplete stream ({seen} events)"
    return ""


def openai_body(stream: bool) -> bytes:
    # No stream_options: the gateway asks the upstream for the usage chunk and takes it out again.
    return json.dumps({"model": OPENAI_MODEL, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}
                      ).encode()


def openai_complete(data: bytes, stream: bool, deltas: int) -> str:
    if not stream:
        return "" if b'"usage"' in data else "no usage in the answer"
    seen = data.count(b'"delta":{"content"')
    if not data.endswith(b"data: [DONE]\n\n") or seen != deltas:
        return f"incomplete stream ({seen} deltas)"
    return "usage the client did not ask for" if b'"usage"' in data else ""


@dataclass(frozen=True)
class Provider:
    name: str
    group_platform: str
    gateway_path: str
    direct_json_path: str
    direct_stream_path: str
    direct_auth: str  # "x-api-key", "bearer" or "x-goog-api-key": how the fake is called directly
    gateway_complete: object = anthropic_complete
    direct_complete: object = anthropic_complete
    body: object = anthropic_body
    gateway_stream_path: str = ""  # where a stream goes through subrelay, when not gateway_path
    gateway_auth: str = "x-api-key"  # how the client sends its subrelay key

    def direct_path(self, stream: bool) -> str:
        return self.direct_stream_path if stream else self.direct_json_path

    def relayed_path(self, stream: bool) -> str:
        return self.gateway_stream_path if stream and self.gateway_stream_path else self.gateway_path

    def direct_headers(self, key: str) -> dict:
        return self._headers(self.direct_auth, key)

    def gateway_headers(self, key: str) -> dict:
        return self._headers(self.gateway_auth, key)

    @staticmethod
    def _headers(auth: str, key: str) -> dict:
        if auth == "bearer":
            return {"authorization": f"Bearer {key}", "content-type": "application/json"}
        if auth == "x-goog-api-key":
            return {"x-goog-api-key": key, "content-type": "application/json"}
        return {"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"}


ANTHROPIC = Provider("anthropic", "anthropic", "/v1/messages", "/v1/messages", "/v1/messages", "x-api-key")
BEDROCK = Provider(
    "bedrock", "anthropic", "/v1/messages", f"/model/{BEDROCK_MODEL_ID}/invoke",
    f"/model/{BEDROCK_MODEL_ID}/invoke-with-response-stream", "bearer", direct_complete=bedrock_complete,
)
_GEMINI_JSON = f"/v1beta/models/{GEMINI_MODEL}:generateContent"
_GEMINI_STREAM = f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse"
GEMINI = Provider(
    "gemini", "gemini", _GEMINI_JSON, _GEMINI_JSON, _GEMINI_STREAM, "x-goog-api-key",
    gateway_complete=gemini_complete, direct_complete=gemini_complete, body=gemini_body,
    gateway_stream_path=_GEMINI_STREAM, gateway_auth="x-goog-api-key",
)
OPENAI = Provider(
    "openai", "openai", "/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions", "bearer",
    gateway_auth="bearer", gateway_complete=openai_complete, direct_complete=openai_complete, body=openai_body,
)
PROVIDERS = {p.name: p for p in (ANTHROPIC, BEDROCK, GEMINI, OPENAI)}
