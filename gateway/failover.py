"""What an upstream error means for the account and the request (spec §2.10-2.12).

INTERFACE: the relay calls `handle_upstream_error` for every upstream answer with status >= 400
before any byte reached the client; it applies the account side effects (rate limit, overload, error,
token refresh) and says whether to try another account, the same one again, or give up and relay the
error.

- 401, 403, 429, 529 and every 5xx fail over to another account.
- Pool-mode accounts (apikey/bedrock in front of an upstream pool) are never marked: 401/403/429 are
  retried on the same account first (`retry_same`, up to account.pool_mode_retry_count times,
  settings.POOL_MODE_RETRY_DELAY apart); when those retries are used up the relay calls
  `pool_retries_exhausted`, which pauses the account briefly, and switches.
- Otherwise: 429 → rate limited until the reset the headers announce (an Anthropic 429 without one is
  not a real limit: not marked); 529 → overloaded for a cooldown; 401 on OAuth → token expired and
  refreshed in the background, account paused meanwhile; 401 on other types, 402, 403 → account error;
  other 5xx → switch without marking.
- Other 4xx (400, 404, 413, ...) are the client's problem: relayed as they are, unless they show that
  the account itself is dead (400 "organization has been disabled").
Every mark goes through the Account state methods, which invalidate the scheduler snapshot.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core import db

log = logging.getLogger(__name__)

FAILOVER_STATUSES = frozenset({401, 403, 429, 529})
POOL_RETRY_STATUSES = frozenset({401, 403, 429})
POOL_MODE_TYPES = frozenset({"apikey", "bedrock"})
DEFAULT_RATE_LIMIT = timedelta(minutes=5)  # non-Anthropic 429 without a usable reset


@dataclass(frozen=True)
class Decision:
    switch_account: bool = False  # exclude this account and select another
    retry_same: bool = False  # pool mode: try the same account again first
    marked: str = ""  # what happened to the account ("rate_limited", "error", ...), for logs


def is_failover_status(status: int) -> bool:
    return status in FAILOVER_STATUSES or status >= 500


def is_pool_mode(account) -> bool:
    return bool(account.pool_mode) and account.type in POOL_MODE_TYPES


# --- reading reset times -----------------------------------------------------------------------------
def _header(headers, name: str):
    if not headers:
        return None
    value = headers.get(name)
    if value is None and hasattr(headers, "items"):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def parse_reset(value) -> datetime | None:
    """A reset instant given as unix seconds (maybe fractional or in ms) or RFC 3339."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if number > 1e11:  # milliseconds
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _truthy(value) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")


def _exhausted(headers, window: str) -> bool:
    if _truthy(_header(headers, f"anthropic-ratelimit-unified-{window}-surpassed-threshold")):
        return True
    try:
        return float(_header(headers, f"anthropic-ratelimit-unified-{window}-utilization") or 0) >= 1
    except ValueError:
        return False


def anthropic_reset(headers) -> datetime | None:
    """When an Anthropic 429 ends: the exhausted window's reset (both → 7d, neither known → the sooner),
    else the aggregated unified reset; None when the answer names no reset at all."""
    five = parse_reset(_header(headers, "anthropic-ratelimit-unified-5h-reset"))
    seven = parse_reset(_header(headers, "anthropic-ratelimit-unified-7d-reset"))
    if five and seven:
        if _exhausted(headers, "7d"):
            return seven
        if _exhausted(headers, "5h"):
            return five
        return min(five, seven)
    if five or seven:
        return five or seven
    return parse_reset(_header(headers, "anthropic-ratelimit-unified-reset"))


def other_reset(headers, now: datetime) -> datetime:
    """OpenAI (x-codex-* reset-after seconds), Retry-After, else a short default."""
    candidates = []
    for window in ("primary", "secondary"):
        after = _header(headers, f"x-codex-{window}-reset-after-seconds")
        try:
            used = float(_header(headers, f"x-codex-{window}-used-percent") or 0)
            seconds = float(after) if after is not None else None
        except ValueError:
            continue
        if seconds is not None:
            candidates.append((used >= 100, now + timedelta(seconds=seconds)))
    if candidates:
        exhausted = [when for full, when in candidates if full]
        return max(exhausted) if exhausted else min(when for _, when in candidates)
    retry_after = _header(headers, "retry-after")
    try:
        if retry_after is not None:
            return now + timedelta(seconds=float(retry_after))
    except ValueError:
        pass
    return now + DEFAULT_RATE_LIMIT


def _body_text(body) -> str:
    if isinstance(body, bytes | bytearray):
        return body[:4000].decode("utf-8", "replace")
    return str(body or "")[:4000]


# --- side effects ---------------------------------------------------------------------------------------
def _apply(account, status: int, headers, body) -> Decision:
    """Mark the account for this answer and decide (sync: runs in a thread)."""
    failover = is_failover_status(status)
    text = _body_text(body)
    if status == 429:
        now = timezone.now()
        reset = anthropic_reset(headers) if account.platform == "anthropic" else other_reset(headers, now)
        if reset is None:
            return Decision(switch_account=True)
        account.mark_rate_limited(reset)
        return Decision(switch_account=True, marked="rate_limited")
    if status == 529:
        account.mark_overloaded(settings.OVERLOAD_COOLDOWN_MINUTES)
        return Decision(switch_account=True, marked="overloaded")
    if status == 401:
        if account.type == "oauth":
            # Expire the token so the next use refreshes it; refresh now in the background.
            account.set_state(token_expires_at=timezone.now())
            account.mark_temp_unschedulable(settings.OAUTH_401_COOLDOWN_MINUTES, f"OAuth 401: {text[:500]}")
            return Decision(switch_account=True, marked="token_refresh")
        account.mark_error(f"Authentication failed (401): {text}")
        return Decision(switch_account=True, marked="error")
    if status == 402:
        account.mark_error("Payment required")
        return Decision(switch_account=True, marked="error")
    if status == 403:
        account.mark_error(f"Access forbidden (403): {text}")
        return Decision(switch_account=True, marked="error")
    if status == 400 and "organization has been disabled" in text.lower():
        account.mark_error(f"Organization disabled (400): {text}")
        return Decision(switch_account=True, marked="error")
    return Decision(switch_account=failover)


_background: set = set()


async def handle_upstream_error(account, status: int, headers, body: bytes) -> Decision:
    if status < 400:
        return Decision()
    if is_pool_mode(account):
        # The upstream is a pool of its own: its errors say nothing lasting about this account.
        if status in POOL_RETRY_STATUSES:
            return Decision(switch_account=True, retry_same=True)
        return Decision(switch_account=is_failover_status(status))
    decision = await db.run(_apply, account, status, headers, body)
    if decision.marked == "token_refresh":
        from accounts.oauth import refresh_after_401

        task = asyncio.get_running_loop().create_task(refresh_after_401(account.pk))
        _background.add(task)
        task.add_done_callback(_background.discard)
    if decision.marked:
        log.warning("account %s marked %s after upstream %s", account.pk, decision.marked, status)
    return decision


async def pool_retries_exhausted(account, status: int) -> None:
    """A pool-mode account answered 401/403/429 on every same-account retry: pause it, then switch."""
    reason = f"pool mode: upstream {status} after {pool_retry_count(account)} retries"
    await db.run(account.mark_temp_unschedulable, settings.POOL_MODE_COOLDOWN_MINUTES, reason)


def pool_retry_count(account) -> int:
    """How often the relay retries a pool-mode account before switching (0-10, default 3)."""
    return max(0, min(int(account.pool_mode_retry_count or 0), 10))
