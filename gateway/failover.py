"""What an upstream error means for the account and the request (spec §2.10-2.12).

The pipeline calls `handle_upstream_error` for every upstream answer with status >= 400 before any byte
reached the client; it applies the account side effects (rate limit, overload, error, token refresh)
and says whether to try another account, the same one again, or give up and relay the error. What a
provider's answer means in detail (when its 429 ends, what its 401 means) is its upstream adapter's.

- 401, 403, 429, 529 and every 5xx fail over to another account, and whatever else the adapter names
  (OpenAI: 402).
- Pool-mode accounts (in front of an upstream pool, where the adapter allows it) are never marked:
  401/403/429 are retried on the same account first (`retry_same`, up to account.pool_mode_retry_count
  times, settings.POOL_MODE_RETRY_DELAY apart); when those retries are used up the pipeline calls
  `pool_retries_exhausted`, which pauses the account briefly, and switches.
- Otherwise: 429 → rate limited until the reset the adapter reads (None: not a lasting limit, not
  marked); 529 → overloaded for a cooldown; 401 → the adapter decides (OAuth: token refreshed, account
  paused meanwhile; else account error); 402, 403 → account error; other 5xx → switch without marking.
- The adapter may say an answer means another status (Google's 400 API_KEY_INVALID is a 401).
- Other 4xx (400, 404, 413, ...) are the client's problem: relayed as they are, unless they show that
  the account itself is dead (400 "organization has been disabled").
Every mark goes through the Account state methods, which invalidate the scheduler snapshot.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from core import db

log = logging.getLogger(__name__)

FAILOVER_STATUSES = frozenset({401, 403, 429, 529})
POOL_RETRY_STATUSES = frozenset({401, 403, 429})


@dataclass(frozen=True)
class Decision:
    switch_account: bool = False  # exclude this account and select another
    retry_same: bool = False  # pool mode: try the same account again first
    marked: str = ""  # what happened to the account ("rate_limited", "error", ...), for logs


def is_failover_status(status: int, upstream) -> bool:
    return status in FAILOVER_STATUSES or status >= 500 or status in upstream.failover_statuses


def is_pool_mode(account, upstream) -> bool:
    return bool(account.pool_mode) and upstream.pool_mode


def _body_text(body) -> str:
    if isinstance(body, bytes | bytearray):
        return body[:4000].decode("utf-8", "replace")
    return str(body or "")[:4000]


# --- side effects ---------------------------------------------------------------------------------------
def _apply(account, upstream, status: int, headers, body) -> Decision:
    """Mark the account for this answer and decide (sync: runs in a thread)."""
    failover = is_failover_status(status, upstream)
    text = _body_text(body)
    if status == 429:
        reset = upstream.rate_limit_reset(headers, body, timezone.now())
        if reset is None:
            return Decision(switch_account=True)
        account.mark_rate_limited(reset)
        return Decision(switch_account=True, marked="rate_limited")
    if status == 529:
        account.mark_overloaded(settings.OVERLOAD_COOLDOWN_MINUTES)
        return Decision(switch_account=True, marked="overloaded")
    if status == 401:
        return Decision(switch_account=True, marked=upstream.unauthorized(account, text))
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


async def handle_upstream_error(account, status: int, headers, body: bytes, upstream=None) -> Decision:
    if status < 400:
        return Decision()
    if upstream is None:
        from gateway.upstreams import Upstream, for_account

        upstream = for_account(account) or Upstream()  # the generic rules for a kind without its own
    status = upstream.failover_status(status, body)
    if is_pool_mode(account, upstream):
        # The upstream is a pool of its own: its errors say nothing lasting about this account.
        if status in POOL_RETRY_STATUSES:
            return Decision(switch_account=True, retry_same=True)
        return Decision(switch_account=is_failover_status(status, upstream))
    decision = await db.run(_apply, account, upstream, status, headers, body)
    if decision.marked:
        await upstream.after_mark(account, decision.marked)
        log.warning("account %s marked %s after upstream %s", account.pk, decision.marked, status)
    return decision


async def pool_retries_exhausted(account, status: int) -> None:
    """A pool-mode account answered 401/403/429 on every same-account retry: pause it, then switch."""
    reason = f"pool mode: upstream {status} after {pool_retry_count(account)} retries"
    await db.run(account.mark_temp_unschedulable, settings.POOL_MODE_COOLDOWN_MINUTES, reason)


def pool_retry_count(account) -> int:
    """How often the relay retries a pool-mode account before switching (0-10, default 3)."""
    return max(0, min(int(account.pool_mode_retry_count or 0), 10))
