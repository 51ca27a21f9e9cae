"""OpenAI API-key accounts, and any OpenAI-compatible upstream for Chat Completions:
`{base}/chat/completions` and `{base}/responses[/{subpath}]` with `Authorization: Bearer <key>`.

The base URL is the account's (else OPENAI_BASE_URL); one that ends in an API version (`/v1`, `/v4`) is
used as it is, any other gets `/v1`. The client's protocol headers that matter (user agent, SDK headers,
`openai-beta`) are passed on as the dialect read them; its key, organization and project never are.
A 429 ends when the exhausted window says (`x-ratelimit-reset-requests` / `-tokens`, durations such as
`6m0s`, `1.5s`, `20ms`), else after `retry-after-ms` / `retry-after`, else after the default pause.
"""

import re
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from multidict import CIMultiDict

from gateway.upstreams.base import DEFAULT_RATE_LIMIT, Upstream, UpstreamMisconfigured, UpstreamRequest, retry_after

PATHS = {"chat": "/chat/completions", "responses": "/responses"}
_VERSIONED = re.compile(r"/v\d+[a-z0-9]*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
WINDOWS = ("requests", "tokens")


def api_root(base: str) -> str:
    """`https://api.openai.com/v1` for `https://api.openai.com`, `…/v1`, `…/v1/`, `…/v1/responses`."""
    base = base.rstrip("/")
    for endpoint in PATHS.values():
        base = base.removesuffix(endpoint)
    return base if _VERSIONED.search(base) else base + "/v1"


def parse_duration(value) -> timedelta | None:
    """OpenAI's reset durations (`6m0s`, `1.5s`, `20ms`, `1h2m3s`) or plain seconds; None if unreadable."""
    text = str(value or "").strip()
    if not text:
        return None
    seconds, position = 0.0, 0
    for part in _DURATION_PART.finditer(text):
        if part.start() != position:
            return None
        seconds += float(part.group(1)) * _UNITS[part.group(2)]
        position = part.end()
    if position == 0:
        try:
            seconds = float(text)
        except ValueError:
            return None
    elif position != len(text):
        return None
    return timedelta(seconds=seconds) if 0 <= seconds < 366 * 86400 else None


def openai_reset(headers, now):
    """When an OpenAI 429 ends: the reset of the window with nothing remaining (the later one if both
    are), else the later reset named, else retry-after-ms / retry-after; None when nothing says."""
    headers = CIMultiDict(headers or {})
    resets = {w: parse_duration(headers.get(f"x-ratelimit-reset-{w}")) for w in WINDOWS}
    exhausted = [resets[w] for w in WINDOWS if resets[w] is not None
                 and str(headers.get(f"x-ratelimit-remaining-{w}", "")).strip() == "0"]
    named = exhausted or [r for r in resets.values() if r is not None]
    if named:
        return now + max(named)
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return now + timedelta(milliseconds=float(ms))
    except (ValueError, OverflowError):
        pass
    return retry_after(headers, now)


class OpenAIApiKey(Upstream):
    name = "openai-apikey"
    platform = "openai"
    types = frozenset({"apikey", "upstream"})
    actions = frozenset(PATHS)
    pool_mode = True
    failover_statuses = frozenset({402})  # spec §3.2: also a pool's 402 (its balance ran out) moves on

    def url(self, account, inbound) -> str:
        url = api_root(account.base_url or settings.OPENAI_BASE_URL) + PATHS[inbound.action]
        subpath = inbound.params.get("subpath")
        return f"{url}/{quote(subpath, safe='/')}" if subpath else url

    def request(self, inbound, account, upstream_model, body):
        if not account.api_key:
            raise UpstreamMisconfigured("api_key is required for an OpenAI API-key account")
        headers = dict(inbound.headers)
        headers["content-type"] = "application/json"
        headers.setdefault("accept", "text/event-stream" if inbound.stream else "application/json")
        headers["accept-encoding"] = "identity"
        headers["authorization"] = f"Bearer {account.api_key}"
        return UpstreamRequest(url=self.url(account, inbound), headers=headers, body=body)

    def rate_limit_reset(self, headers, body, now):
        return openai_reset(headers, now) or now + DEFAULT_RATE_LIMIT
