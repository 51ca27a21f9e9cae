"""The protocols the benchmark drives, each as the gateway and the fake upstream speak it.

A provider says where a client sends its request (through subrelay) and where the same request goes
straight to the fake (as the gateway would send it), with which key, and how to tell a complete answer.
The fake upstream (bench/fake_upstream.py) answers every provider's upstream path.
"""

import json
from dataclasses import dataclass

MODEL = "claude-sonnet-4-5"
PROMPT = "Say hello to the benchmark. " * 8
BEDROCK_MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


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


@dataclass(frozen=True)
class Provider:
    name: str
    group_platform: str
    gateway_path: str
    direct_json_path: str
    direct_stream_path: str
    direct_auth: str  # "x-api-key" or "bearer": how the fake is called directly
    gateway_complete: object = anthropic_complete
    direct_complete: object = anthropic_complete
    body: object = anthropic_body

    def direct_path(self, stream: bool) -> str:
        return self.direct_stream_path if stream else self.direct_json_path

    def direct_headers(self, key: str) -> dict:
        if self.direct_auth == "bearer":
            return {"authorization": f"Bearer {key}", "content-type": "application/json"}
        return {"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"}


ANTHROPIC = Provider("anthropic", "anthropic", "/v1/messages", "/v1/messages", "/v1/messages", "x-api-key")
BEDROCK = Provider(
    "bedrock", "anthropic", "/v1/messages", f"/model/{BEDROCK_MODEL_ID}/invoke",
    f"/model/{BEDROCK_MODEL_ID}/invoke-with-response-stream", "bearer", direct_complete=bedrock_complete,
)
PROVIDERS = {p.name: p for p in (ANTHROPIC, BEDROCK)}
