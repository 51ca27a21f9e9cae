"""Account choice for one request (spec §2.6-2.7).

INTERFACE (shared by the relay and the scheduler work): the relay calls `select_account` once per
attempt, passing the ids of accounts that already failed this request, and releases the returned
lease when the attempt ends (success, error, disconnect). The implementation here is the minimal
first version: first schedulable account of the key's group, by priority. The scheduling issue
replaces the body (snapshot cache, load, LRU, sticky sessions, account slots) without changing the
signatures.
"""

from dataclasses import dataclass, field

from asgiref.sync import sync_to_async


class NoAccountAvailable(Exception):
    """No account of the group can take the request (all busy, failed, limited or unsupported)."""


@dataclass
class SelectionRequest:
    group_id: int | None
    platform: str
    model: str
    user_id: int
    api_key_id: int
    stream: bool = False
    session_hash: str | None = None  # sticky-session key, see gateway.sessions


@dataclass
class Lease:
    """An account chosen for one attempt, holding its concurrency slot until released."""

    account: object  # accounts.models.Account
    sticky: bool = False
    _released: bool = field(default=False, repr=False)

    async def release(self):
        self._released = True


def _candidates(req: SelectionRequest, exclude: frozenset[int]):
    from accounts.models import Account

    qs = Account.objects.filter(platform=req.platform, status=Account.Status.ACTIVE, schedulable=True)
    qs = qs.filter(groups__id=req.group_id) if req.group_id else qs.filter(groups__isnull=True)
    return [a for a in qs.exclude(pk__in=exclude).order_by("priority", "id") if a.is_schedulable()]


async def select_account(req: SelectionRequest, exclude: frozenset[int] = frozenset()) -> Lease:
    for account in await sync_to_async(_candidates)(req, exclude):
        if account.supports_model(req.model):
            return Lease(account=account)
    raise NoAccountAvailable(f"no available account for model {req.model}")
