"""Anthropic API-key accounts: `{base_url}/v1/messages` with `x-api-key`.

The client's Anthropic headers that matter upstream (version, betas, user agent, SDK headers) are passed
on as the dialect read them; everything else (the client's key, cookies, hop-by-hop headers) stays here.
A 429 is a lasting limit only when its headers name a reset (Anthropic sends 429s without one for brief
overloads).
"""

from datetime import datetime

from django.conf import settings
from multidict import CIMultiDict

from gateway import betapolicy
from gateway.upstreams.base import Upstream, UpstreamRequest, parse_reset

DEFAULT_VERSION = "2023-06-01"
PATHS = {"messages": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}


def _exhausted(headers, window: str) -> bool:
    if str(headers.get(f"anthropic-ratelimit-unified-{window}-surpassed-threshold", "")).lower() in ("true", "1"):
        return True
    try:
        return float(headers.get(f"anthropic-ratelimit-unified-{window}-utilization") or 0) >= 1
    except ValueError:
        return False


def anthropic_reset(headers) -> datetime | None:
    """When an Anthropic 429 ends: the exhausted window's reset (both → 7d, neither known → the sooner),
    else the aggregated unified reset; None when the answer names no reset at all."""
    headers = CIMultiDict(headers or {})
    five = parse_reset(headers.get("anthropic-ratelimit-unified-5h-reset"))
    seven = parse_reset(headers.get("anthropic-ratelimit-unified-7d-reset"))
    if five and seven:
        if _exhausted(headers, "7d"):
            return seven
        if _exhausted(headers, "5h"):
            return five
        return min(five, seven)
    if five or seven:
        return five or seven
    return parse_reset(headers.get("anthropic-ratelimit-unified-reset"))


class AnthropicUpstream(Upstream):
    """What every account speaking to Anthropic's own API shares."""

    platform = "anthropic"
    actions = frozenset(PATHS)

    async def prepare(self, account):
        await betapolicy.ensure_loaded()

    def url(self, account, action: str) -> str:
        base = (account.base_url or settings.ANTHROPIC_BASE_URL).rstrip("/")
        return f"{base}{PATHS[action]}?beta=true"

    def headers(self, inbound, account) -> dict:
        headers = dict(inbound.headers)
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        headers["content-type"] = "application/json"
        headers["accept-encoding"] = "identity"
        beta = betapolicy.apply(headers.get("anthropic-beta", ""), self.beta_scope)
        if beta:
            headers["anthropic-beta"] = beta
        else:
            headers.pop("anthropic-beta", None)
        return headers

    def authorize(self, headers: dict, account) -> None:
        raise NotImplementedError

    def request(self, inbound, account, upstream_model, body):
        headers = self.headers(inbound, account)
        self.authorize(headers, account)
        return UpstreamRequest(url=self.url(account, inbound.action), headers=headers, body=body)

    def rate_limit_reset(self, headers, body, now):
        return anthropic_reset(headers)


class AnthropicApiKey(AnthropicUpstream):
    name = "anthropic-apikey"
    types = frozenset({"apikey", "upstream"})
    pool_mode = True
    beta_scope = "apikey"

    def authorize(self, headers, account):
        headers["x-api-key"] = account.api_key
