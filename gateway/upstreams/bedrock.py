"""AWS Bedrock accounts (spec S3, reference §4): Anthropic's Messages API behind Bedrock's InvokeModel.

Two ways in, one adapter each: SigV4 signing with the account's AWS keys (botocore's signer, service
`bedrock`, the account's region, the session token when set), or a Bedrock API key sent as a Bearer
token. Everything else is shared:
- the model id: the account's mapping, then the alias table below, with the cross-region prefix of the
  account's region (or `global.` when forced); a model that resolves to no Bedrock id is not served;
- `{BEDROCK_ENDPOINT}/model/{id}/invoke` or `/invoke-with-response-stream`, the id escaped;
- the body: `anthropic_version`, the client's betas moved into `anthropic_beta` (the Bedrock whitelist
  and the beta policy's `bedrock` scope), fields Bedrock refuses removed, `cache_control` sanitised;
- the stream: AWS event-stream frames decoded with botocore's EventStreamBuffer, each chunk's bytes
  re-emitted as the Anthropic SSE event it carries, invocation metrics as usage, exception frames as an
  error event;
- errors `{"message": ...}` in Anthropic's error shape, `x-amzn-requestid` as the request id.
"""

import binascii
import json
import re
from types import MappingProxyType
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, EventStreamHeaderParser, ParserError
from django.conf import settings

from core import jsonutil
from gateway import betapolicy
from gateway.dialects.anthropic import ERROR_TYPES
from gateway.upstreams.base import Upstream, UpstreamMisconfigured, UpstreamRequest

ANTHROPIC_VERSION = "bedrock-2023-05-31"
# Requested model → Bedrock foundation model id; the cross-region prefix is added by region.
MODEL_IDS = {
    "claude-opus-4-6": "anthropic.claude-opus-4-6-v1",
    "claude-sonnet-4-6": "anthropic.claude-sonnet-4-6",
    "claude-opus-4-5": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude-sonnet-4-5": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-opus-4-1": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-opus-4": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-sonnet-4": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-3-7-sonnet": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-3-5-haiku": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-haiku": "anthropic.claude-3-haiku-20240307-v1:0",
}
CROSS_REGION_PREFIXES = ("us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "global.")
# Ids that already name a Bedrock model (a provider's foundation model or an ARN).
BEDROCK_ID = re.compile(r"^(arn:|(anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer)\.)")
_DATE = re.compile(r"-\d{8}$")
# The betas Bedrock accepts; others are dropped before the call.
BETA_WHITELIST = frozenset({
    "computer-use-2025-01-24", "computer-use-2025-11-24", "context-1m-2025-08-07", "context-management-2025-06-27",
    "compact-2026-01-12", "interleaved-thinking-2025-05-14", "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
})
BETA_RENAMES = {"advanced-tool-use-2025-11-20": "tool-search-tool-2025-10-19"}
DROPPED_FIELDS = ("model", "stream", "output_config")
EXCEPTION_TYPES = {  # event-stream exception → (status, Anthropic error type)
    "throttlingException": (429, "rate_limit_error"),
    "validationException": (400, "invalid_request_error"),
    "serviceUnavailableException": (529, "overloaded_error"),
    "modelNotReadyException": (529, "overloaded_error"),
    "accessDeniedException": (403, "permission_error"),
}


def region_prefix(region: str, force_global: bool) -> str:
    if force_global:
        return "global"
    region = (region or "us-east-1").lower()
    if region.startswith("us-gov"):
        return "us-gov"
    if region.startswith("eu-"):
        return "eu"
    if region == "ap-northeast-1":
        return "jp"
    if region == "ap-southeast-2":
        return "au"
    if region.startswith("ap-"):
        return "apac"
    return "us"


def resolve_model_id(model: str, region: str, force_global: bool = False) -> str | None:
    """The Bedrock id for a (mapped) model name, or None when it names no Bedrock model."""
    prefix = region_prefix(region, force_global)
    name = model.strip()
    base = MODEL_IDS.get(name) or MODEL_IDS.get(_DATE.sub("", name))
    if base is not None:
        return f"{prefix}.{base}"
    for existing in CROSS_REGION_PREFIXES:
        if name.startswith(existing):
            return f"{prefix}.{name[len(existing):]}"
    return name if BEDROCK_ID.match(name) else None


# --- the body ----------------------------------------------------------------------------------------------
def _claude_version(model_id: str) -> tuple[int, int]:
    match = re.search(r"claude-(?:[a-z]+-)?(\d+)(?:-(\d{1,2})(?!\d))?", model_id)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


def _sanitise_cache_control(node, keep_ttl: bool) -> None:
    """Bedrock refuses `cache_control.scope`, and `ttl` before Claude 4.5."""
    if isinstance(node, list):
        for item in node:
            _sanitise_cache_control(item, keep_ttl)
        return
    if not isinstance(node, dict):
        return
    control = node.get("cache_control")
    if isinstance(control, dict):
        control.pop("scope", None)
        if "ttl" in control and not (keep_ttl and control["ttl"] in ("5m", "1h")):
            control.pop("ttl")
    for key in ("content", "system", "tools", "messages"):
        if key in node:
            _sanitise_cache_control(node[key], keep_ttl)


def _auto_betas(data: dict) -> list[str]:
    betas = []
    if data.get("thinking"):
        betas.append("interleaved-thinking-2025-05-14")
    for tool in data.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        kind = str(tool.get("type") or "")
        if kind.startswith("computer_20"):
            betas.append("computer-use-2025-11-24")
        if kind.startswith("tool_search_tool"):
            betas.append("tool-search-tool-2025-10-19")
        if "input_examples" in tool:
            betas.append("tool-examples-2025-10-29")
    return betas


def _client_betas(header: str, data: dict) -> list[str]:
    text = (header or "").strip()
    parsed = jsonutil.parse(text) if text.startswith("[") else None
    tokens = [str(t).strip() for t in parsed] if isinstance(parsed, list) else betapolicy.tokens_of(text)
    existing = data.get("anthropic_beta")
    if isinstance(existing, list):
        tokens += [str(t) for t in existing]
    return tokens


def _schema_into_last_user_message(data: dict) -> None:
    """Bedrock has no `output_format`: the schema travels as an instruction in the last user turn."""
    output_format = data.pop("output_format", None)
    schema = output_format.get("schema") if isinstance(output_format, dict) else None
    if schema is None:
        return
    note = {"type": "text", "text": "Respond with JSON only, matching this JSON schema:\n"
                                    + json.dumps(schema, ensure_ascii=False)}
    for message in reversed(data.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                message["content"] = [{"type": "text", "text": content}, note]
            elif isinstance(content, list):
                content.append(note)
            return


def bedrock_body(data: dict, client_beta: str, model_id: str) -> bytes:
    body = json.loads(json.dumps(data))  # a copy the rules may change
    betas = []
    asked = betapolicy.filter_tokens(_client_betas(client_beta, body), "bedrock")  # the policy sees what was asked
    for token in [*asked, *_auto_betas(body)]:
        token = BETA_RENAMES.get(token, token)
        if token in BETA_WHITELIST and token not in betas:
            betas.append(token)
    body.pop("anthropic_beta", None)
    if betas:
        body["anthropic_beta"] = betas
    if "context-management-2025-06-27" not in betas:
        body.pop("context_management", None)
    for name in DROPPED_FIELDS:
        body.pop(name, None)
    _schema_into_last_user_message(body)
    for tool in body.get("tools") or ():
        if isinstance(tool, dict):
            tool.pop("custom", None)
    _sanitise_cache_control(body, keep_ttl=_claude_version(model_id) >= (4, 5))
    body["anthropic_version"] = ANTHROPIC_VERSION
    return json.dumps(body, ensure_ascii=False).encode()


# --- answers -----------------------------------------------------------------------------------------------
def _metrics_to_usage(event: dict) -> None:
    metrics = event.pop("amazon-bedrock-invocationMetrics", None)
    if isinstance(metrics, dict) and event.get("type") in (None, "message", "message_delta") and "usage" not in event:
        event["usage"] = {"input_tokens": metrics.get("inputTokenCount", 0),
                          "output_tokens": metrics.get("outputTokenCount", 0)}


def _error_json(status: int, message: str, error_type: str | None = None) -> dict:
    return {"type": "error", "error": {"type": error_type or ERROR_TYPES.get(status, "api_error"), "message": message}}


class _RepeatedHeaders(EventStreamHeaderParser):
    """Bedrock sends the same header block on every chunk frame; botocore's header parser, in pure Python,
    is most of a frame's decoding cost, so each distinct block is parsed once per process (a handful of
    them: chunk, metrics, the exception kinds)."""

    LIMIT = 64
    _parsed: dict[bytes, MappingProxyType] = {}

    def parse(self, data):
        headers = self._parsed.get(data)
        if headers is None:
            headers = MappingProxyType(super().parse(data))
            if len(self._parsed) < self.LIMIT:
                self._parsed[bytes(data)] = headers
        return headers


class _FrameBuffer(EventStreamBuffer):
    def __init__(self):
        super().__init__()
        self._header_parser = _RepeatedHeaders()


class EventStreamDecoder:
    """AWS event-stream bytes in, Anthropic SSE bytes out.

    A chunk's event is relayed as the bytes Bedrock sent (found in the payload without a JSON parse): only
    the event carrying the invocation metrics is parsed and written again.
    """

    def __init__(self):
        self._frames = _FrameBuffer()
        self.failed = False

    def __call__(self, chunk: bytes) -> bytes:
        if self.failed:
            return b""
        self._frames.add_data(chunk)
        out = []
        try:
            for frame in self._frames:
                out.append(self._event(frame))
        except ParserError as exc:
            self.failed = True
            out.append(_sse("error", _error_json(502, f"Broken Bedrock stream: {exc.__class__.__name__}", "api_error")))
        return b"".join(out)

    def _event(self, frame) -> bytes:
        headers = frame.headers
        kind = headers.get(":message-type", "event")
        if kind in ("exception", "error"):
            name = headers.get(":exception-type") or headers.get(":error-code") or "internalServerException"
            payload = jsonutil.parse(frame.payload)
            message = (payload.get("message") or payload.get("Message")) if isinstance(payload, dict) else None
            status, error_type = EXCEPTION_TYPES.get(name, (500, "api_error"))
            return _sse("error", _error_json(status, f"{name}: {message or 'Bedrock stream error'}", error_type))
        if headers.get(":event-type") != "chunk":
            return b""
        raw = _chunk_bytes(frame.payload)
        if raw is None:
            return b""
        if b"amazon-bedrock-invocationMetrics" in raw:
            event = jsonutil.parse(raw)
            if not isinstance(event, dict):
                return b""
            _metrics_to_usage(event)
            return _sse(str(event.get("type") or "message"), event)
        kind = _EVENT_TYPE.search(raw, 0, 200)
        return b"event: " + (kind.group(1) if kind else b"message") + b"\ndata: " + raw + b"\n\n"


_EVENT_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z_]+)"')
_BYTES = re.compile(rb'"bytes"\s*:\s*"([A-Za-z0-9+/=]*)"')


def _chunk_bytes(payload: bytes) -> bytes | None:
    """The event a chunk carries: its payload is {"bytes": "<base64 of the event JSON>", ...}."""
    found = _BYTES.search(payload)
    if found is None:
        return None
    try:
        return binascii.a2b_base64(found.group(1))
    except binascii.Error:
        return None


def _sse(kind: str, event: dict) -> bytes:
    return f"event: {kind}\ndata: ".encode() + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() \
        + b"\n\n"


# --- the adapters ------------------------------------------------------------------------------------------
class Bedrock(Upstream):
    platform = "anthropic"
    types = frozenset({"bedrock"})
    pool_mode = True
    beta_scope = "bedrock"
    response_headers = (("x-amzn-requestid", "request-id"), ("retry-after", "retry-after"))
    auth_mode = ""

    def handles(self, account):
        mode = "apikey" if account.bedrock_auth_mode == "apikey" else "sigv4"  # anything else means SigV4 (S3)
        return super().handles(account) and mode == self.auth_mode

    def region(self, account) -> str:
        return account.aws_region or "us-east-1"

    def model_for(self, account, model):
        mapped = self.mapped_model(account, model)
        return None if mapped is None else resolve_model_id(mapped, self.region(account), account.aws_force_global)

    async def prepare(self, account):
        await betapolicy.ensure_loaded()

    def url(self, account, model_id: str, stream: bool) -> str:
        endpoint = settings.BEDROCK_ENDPOINT.replace("{region}", self.region(account)).rstrip("/")
        action = "invoke-with-response-stream" if stream else "invoke"
        return f"{endpoint}/model/{quote(model_id, safe='')}/{action}"

    def request(self, inbound, account, upstream_model, body):
        # The model travels in the URL: the body is rebuilt from what the client sent.
        payload = bedrock_body(inbound.data, inbound.headers.get("anthropic-beta", ""), upstream_model)
        url = self.url(account, upstream_model, inbound.stream)
        headers = {"content-type": "application/json", "accept": "application/json"}
        headers = self.authorize(url, headers, payload, account)
        headers["accept-encoding"] = "identity"
        return UpstreamRequest(url=url, headers=headers, body=payload)

    def authorize(self, url: str, headers: dict, body: bytes, account) -> dict:
        raise NotImplementedError

    def is_stream(self, headers):
        return headers.get("content-type", "").startswith("application/vnd.amazon.eventstream")

    def stream_decoder(self, account):
        return EventStreamDecoder()

    def decode_json(self, raw):
        data = jsonutil.parse(raw)
        if not isinstance(data, dict) or "amazon-bedrock-invocationMetrics" not in data:
            return raw
        _metrics_to_usage(data)
        return json.dumps(data, ensure_ascii=False).encode()

    def decode_error(self, status, headers, body):
        data = jsonutil.parse(body)
        if isinstance(data, dict) and data.get("type") == "error":
            return body
        message = (data.get("message") or data.get("Message")) if isinstance(data, dict) else None
        kind = (headers.get("x-amzn-errortype") or "").split(":")[0]
        text = message or body[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
        return json.dumps(_error_json(status, f"{kind}: {text}" if kind else text), ensure_ascii=False).encode()


class BedrockSigV4(Bedrock):
    name = "bedrock-sigv4"
    auth_mode = "sigv4"

    def authorize(self, url, headers, body, account):
        if not account.aws_access_key_id or not account.aws_secret_access_key:
            raise UpstreamMisconfigured("aws_access_key_id and aws_secret_access_key are required for SigV4")
        credentials = Credentials(account.aws_access_key_id, account.aws_secret_access_key,
                                  account.aws_session_token or None)
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        request.context["payload_signing_enabled"] = True
        SigV4Auth(credentials, "bedrock", self.region(account)).add_auth(request)
        return {name.lower(): value for name, value in request.headers.items()}


class BedrockApiKey(Bedrock):
    name = "bedrock-apikey"
    auth_mode = "apikey"

    def authorize(self, url, headers, body, account):
        if not account.api_key:
            raise UpstreamMisconfigured("api_key not found in bedrock credentials")
        return {**headers, "authorization": f"Bearer {account.api_key}"}
