"""Gemini API-key accounts (Google AI Studio): `{base_url}/v1beta/models/{model}:{action}` with
`x-goog-api-key`.

Streams are always asked for as SSE (`?alt=sse`); the dialect gives a client that wanted the JSON array
its array. Google's answers are already in the client's shape, so nothing is translated. What Google's
errors mean for the account:
- 429 RESOURCE_EXHAUSTED: a daily quota (a QuotaFailure violation of a `...PerDay...` quota) lasts until
  Google's next daily reset, midnight Pacific time; otherwise until the body's RetryInfo delay, else the
  "Please retry in Ns" of its message, else Retry-After, else 5 minutes;
- 400 with reason API_KEY_INVALID is the account's key refused (Google does not answer 401 for it): it
  counts as a 401, so the account is marked and the request moves on;
- 401/403/5xx: the generic rules (gateway.failover).
"""

import re
from datetime import datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from django.conf import settings

from core import jsonutil
from gateway.upstreams.base import DEFAULT_RATE_LIMIT, Upstream, UpstreamMisconfigured, UpstreamRequest, retry_after

ACTIONS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
QUOTA_RESET_ZONE = ZoneInfo("America/Los_Angeles")  # where Google's daily quotas reset at midnight
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)
_VERSION_SUFFIX = re.compile(r"/v1(?:beta)?/?$")


def _error(body) -> dict:
    data = jsonutil.parse(body) if body else None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _details(error: dict, kind: str) -> list[dict]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict) and d.get("@type") == kind] if isinstance(details, list) else []


def next_daily_reset(now: datetime) -> datetime:
    """The next midnight in Google's quota time zone (Pacific time, daylight saving included)."""
    local = now.astimezone(QUOTA_RESET_ZONE)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=QUOTA_RESET_ZONE)


def gemini_reset(headers, body, now: datetime) -> datetime:
    """When a Gemini 429 ends (see the module docstring)."""
    error = _error(body)
    for failure in _details(error, QUOTA_FAILURE):
        for violation in failure.get("violations") or ():
            if isinstance(violation, dict) and "perday" in str(violation.get("quotaId", "")).lower():
                return next_daily_reset(now)
    for info in _details(error, RETRY_INFO):
        if match := _DELAY.match(str(info.get("retryDelay", ""))):
            return now + timedelta(seconds=float(match.group(1)))
    if match := _RETRY_IN.search(str(error.get("message", ""))):
        value = float(match.group(1))
        return now + timedelta(seconds=value / 1000 if match.group(2).lower() == "ms" else value)
    return retry_after(headers, now) or now + DEFAULT_RATE_LIMIT


class GeminiApiKey(Upstream):
    name = "gemini-apikey"
    platform = "gemini"
    types = frozenset({"apikey"})
    actions = ACTIONS
    pool_mode = True
    response_headers = (("x-request-id", "x-request-id"), ("retry-after", "retry-after"))

    def mapped_model(self, account, model):
        mapped = super().mapped_model(account, model)
        return mapped.removeprefix("models/") if mapped else mapped

    def url(self, account, model: str, action: str) -> str:
        base = _VERSION_SUFFIX.sub("", (account.base_url or settings.GEMINI_BASE_URL).rstrip("/"))
        url = f"{base}/v1beta/models/{quote(model, safe='')}:{action}"
        return url + "?alt=sse" if action == "streamGenerateContent" else url

    def request(self, inbound, account, upstream_model, body):
        if not account.api_key:
            raise UpstreamMisconfigured("api_key is required for a Gemini API-key account")
        headers = dict(inbound.headers)  # user-agent, x-goog-api-client: what the dialect let through
        headers.update({"content-type": "application/json", "x-goog-api-key": account.api_key,
                        "accept-encoding": "identity"})
        return UpstreamRequest(url=self.url(account, upstream_model, inbound.action), headers=headers, body=body)

    def failover_status(self, status, body):
        if status == 400 and any(d.get("reason") == "API_KEY_INVALID" for d in _details(_error(body), ERROR_INFO)):
            return 401
        return status

    def rate_limit_reset(self, headers, body, now):
        return gemini_reset(headers, body, now)
