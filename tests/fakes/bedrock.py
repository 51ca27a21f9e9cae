"""A fake AWS Bedrock runtime: a real aiohttp server on 127.0.0.1 that speaks InvokeModel for Claude.

It checks every request as Bedrock would: a SigV4 signature is recomputed with botocore from the request
it received and the known test credentials (a wrong secret, date or body is refused with Bedrock's 403),
a Bearer key must be a known Bedrock API key. It answers
`POST /model/{id}/invoke` with the Anthropic JSON plus `amazon-bedrock-invocationMetrics`, and
`/invoke-with-response-stream` with real AWS event-stream frames whose chunks carry the Anthropic events.

    fake = BedrockFake().start()           # fake.url; settings.BEDROCK_ENDPOINT = fake.url
    fake.reply(BedrockReply(events=stream_events(...), exception=("throttlingException", "slow down")))
    fake.requests[-1].path, .headers, .json, fake.requests[-1].auth  # "sigv4" | "apikey"
"""

import asyncio
import base64
import binascii
import json
import re
import struct
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.anthropic import AnthropicFake, Recorded, Reply, message, stream_events

ACCESS_KEY_ID = "AKIAFAKEBEDROCK00001"
SECRET_ACCESS_KEY = "fake/bedrock/secret/key/for/tests/only00"
API_KEY = "ABSK-fake-bedrock-api-key"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass
class BedrockReply(Reply):
    exception: tuple[str, str] | None = None  # (":exception-type", message) frame after the events
    metrics: bool = True  # add amazon-bedrock-invocationMetrics as Bedrock does


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total and header lengths + CRC), headers, payload, CRC."""
    encoded = b"".join(
        struct.pack("!B", len(name)) + name.encode() + b"\x07" + struct.pack("!H", len(value)) + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message_ = prelude + encoded + payload
    return message_ + struct.pack("!I", binascii.crc32(message_) & 0xFFFFFFFF)


def chunk_frame(event: dict) -> bytes:
    event_json = json.dumps(event, separators=(",", ":")).encode()  # Bedrock sends the events compact
    payload = json.dumps({"bytes": base64.b64encode(event_json).decode(), "p": "abcd"}).encode()
    return frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload)


def exception_frame(kind: str, text: str) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                 json.dumps({"message": text}).encode())


def _usage_of(events) -> tuple[int, int]:
    start = next((d for n, d in events if n == "message_start"), {})
    delta = next((d for n, d in events if n == "message_delta"), {})
    return (start.get("message", {}).get("usage", {}).get("input_tokens", 0),
            delta.get("usage", {}).get("output_tokens", 0))


class BedrockFake(AnthropicFake):
    def __init__(self, credentials: dict[str, str] | None = None, api_keys=(API_KEY,)):
        super().__init__()
        self.credentials = credentials or {ACCESS_KEY_ID: SECRET_ACCESS_KEY}
        self.api_keys = set(api_keys)

    def _check_auth(self, request, body: bytes) -> tuple[str, str | None]:
        """("sigv4" | "apikey", None) when the caller may pass, else (mode, why not)."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            known = header[7:] in self.api_keys
            return "apikey", None if known else "The security token included in the request is invalid."
        match = _AUTH.match(header)
        if match is None:
            return "none", "Missing Authentication Token"
        secret = self.credentials.get(match["key"])
        if secret is None or match["service"] != "bedrock":
            return "sigv4", "The security token included in the request is invalid."
        signed = match["signed"].split(";")
        headers = {name: request.headers.get(name, "") for name in signed}
        url = f"http://{request.host}{request.raw_path}"
        check = AWSRequest(method=request.method, url=url, data=body, headers=headers)
        check.context["timestamp"] = request.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(match["key"], secret, request.headers.get("X-Amz-Security-Token")),
                           "bedrock", match["region"])
        expected = signer.signature(signer.string_to_sign(check, signer.canonical_request(check)), check)
        if expected != match["signature"]:
            return "sigv4", "The request signature we calculated does not match the signature you provided."
        return "sigv4", None

    async def _handle(self, request: web.Request):
        body = await request.read()
        record = Recorded(method=request.method, path=unquote(request.raw_path), query=dict(request.query),
                          headers={k.lower(): v for k, v in request.headers.items()}, body=body)
        mode, refused = self._check_auth(request, body)
        record.auth = mode
        self.requests.append(record)
        if refused:
            return web.json_response({"message": refused}, status=403, headers={
                "x-amzn-errortype": "UnrecognizedClientException:http://internal.amazon.com/coral/",
                "x-amzn-requestid": "fake-denied"})
        match = re.match(r"^/model/(?P<id>.+)/(?P<action>invoke|invoke-with-response-stream)$", request.raw_path)
        if match is None:
            return web.json_response({"message": "Unknown operation"}, status=404)
        record.model_id = unquote(match["id"])
        stream = match["action"] == "invoke-with-response-stream"
        reply = self._replies.popleft() if self._replies else BedrockReply(
            events=stream_events() if stream else None, body=None if stream else message())
        headers = {"x-amzn-requestid": "fake-bedrock-request", **reply.headers}
        if reply.status >= 400:
            error = reply.body or {"message": "error"}
            raw = error if isinstance(error, bytes) else json.dumps(error).encode()
            record.completed = True
            headers.setdefault("content-type", "application/json")
            return web.Response(status=reply.status, body=raw, headers=headers)
        if not stream:
            data = dict(reply.body or message())
            if getattr(reply, "metrics", True):
                data["amazon-bedrock-invocationMetrics"] = {
                    "inputTokenCount": data.get("usage", {}).get("input_tokens", 0),
                    "outputTokenCount": data.get("usage", {}).get("output_tokens", 0),
                    "invocationLatency": 321, "firstByteLatency": 123}
            record.completed = True
            return web.json_response(data, headers=headers)
        return await self._event_stream(request, reply, record, headers)

    async def _event_stream(self, request, reply, record, headers):
        response = web.StreamResponse(status=200, headers={
            "content-type": "application/vnd.amazon.eventstream", **headers})
        await response.prepare(request)
        events = list(reply.events or stream_events())
        input_tokens, output_tokens = _usage_of(events)
        try:
            for index, (_, data) in enumerate(events):
                if reply.close_after is not None and index == reply.close_after:
                    await asyncio.sleep(0.2)
                    if request.transport is not None:
                        request.transport.close()
                    return response
                if reply.delay and index:
                    await asyncio.sleep(reply.delay)
                event = dict(data)
                if event.get("type") == "message_stop" and getattr(reply, "metrics", True):
                    event["amazon-bedrock-invocationMetrics"] = {
                        "inputTokenCount": input_tokens, "outputTokenCount": output_tokens,
                        "invocationLatency": 321, "firstByteLatency": 123}
                await response.write(chunk_frame(event))
            if reply.exception is not None:
                await response.write(exception_frame(*reply.exception))
            await response.write_eof()
            record.completed = True
        except (ConnectionResetError, ConnectionError):
            record.disconnected = True
        return response
