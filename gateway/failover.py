"""What an upstream error means for the account and the request (spec §2.10-2.12).

INTERFACE: the relay calls `handle_upstream_error` for every upstream answer with status >= 400
before any byte reached the client; it applies the account side effects (rate limit, overload, error,
token refresh) and says whether to try another account, the same one again, or give up and relay the
error. The scheduling issue fills in the rules; this first version never fails over.
"""

from dataclasses import dataclass

FAILOVER_STATUSES = frozenset({401, 403, 429, 529})


@dataclass(frozen=True)
class Decision:
    switch_account: bool = False  # exclude this account and select another
    retry_same: bool = False  # pool mode: try the same account again first


async def handle_upstream_error(account, status: int, headers, body: bytes) -> Decision:
    return Decision()
