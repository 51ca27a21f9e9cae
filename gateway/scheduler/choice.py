"""Choosing the account for one attempt (spec §2.6-2.7).

The pipeline calls `select_account` once per attempt, passing the ids of accounts that already failed
this request, and releases the returned lease when the attempt ends (success, error, disconnect).

0. A group that only allows Claude Code sends every other client to its fallback group (following the
   chain), or refuses it when there is none.
1. Candidates: the accounts of the key's group (ungrouped accounts for a key without group) on the
   request's platform that can take a request now (`Account.unschedulable_reason`, which includes the
   quota rule), that an upstream adapter serves (gateway.upstreams) for this model, minus the request's
   failed accounts. They come from the cached snapshot (snapshot.py). An account in the sticky-only
   zone of its window cost (accounts/limits.py) is a candidate only for the session bound to it.
2. The group's model routing, when enabled and a pattern matches the model, narrows the candidates to
   the routed accounts (if any of them is usable).
3. Sticky session: the account bound to what the request continues (an OpenAI response it follows up),
   else to its session hash, is reused while it is a candidate; if it is busy the request queues on it
   briefly; a session binding to an unusable account is replaced.
4. Otherwise by lowest priority number, lowest load ((slots held + waiting) / load factor), least
   recently used (never used first), the group's drag order; the first whose slot can be taken wins.
5. All busy: queue on the best account for a bounded time, then ConcurrencyLimitExceeded. No candidate
   at all: NoAccountAvailable.
Once an account's slot is held, its RPM and session limits are counted (accounts.limits.admit); an account
they refuse gives the slot back and the next one is tried.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from accounts import limits
from core import patterns
from core.store import get_store
from gateway import slots
from gateway.scheduler import snapshot, sticky
from gateway.scheduler.lastused import note_used
from gateway.slots import ConcurrencyLimitExceeded
from gateway.upstreams import AccountNotReady

log = logging.getLogger(__name__)

_NEVER = datetime.min.replace(tzinfo=UTC)


CLAUDE_CODE_ONLY = "this group only allows Claude Code clients"


class NoAccountAvailable(Exception):
    """No account of the group can take the request (all failed, limited, paused or unsupported)."""


@dataclass
class SelectionRequest:
    group_id: int | None
    platform: str
    model: str
    user_id: int
    api_key_id: int
    stream: bool = False
    session_hash: str | None = None  # sticky-session key, see gateway.sessions
    request_id: str | None = None  # holder of the account slot; generated when missing
    action: str = "messages"  # what the request asks the upstream for (see gateway.upstreams)
    continues: str | None = None  # sticky key of what the request continues, looked up before the session's
    # Whether Claude Code sent it (gateway.claudecode): asked only by a Claude-Code-only group.
    claude_code: Callable[[], bool] = lambda: False


@dataclass
class Lease:
    """An account chosen for one attempt, holding its concurrency slot until released."""

    account: object  # accounts.models.Account, shared with other requests: change it only through its methods
    upstream: object = None  # the account's gateway.upstreams adapter
    upstream_model: str = ""  # the model id the upstream is asked for
    mapped_model: str = ""  # the model the account's mapping chose (answers are renamed back from it)
    sticky: bool = False
    holder: str = ""
    _released: bool = field(default=False, repr=False)
    _loop: object = field(default=None, repr=False)

    def __post_init__(self):
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    async def release(self, *also: tuple[str, str]):
        """Give the account slot back and note the use; safe to call twice, also while cancelled.

        also: other (key, holder) slots of the request (its user slot) given back in the same round trip.
        """
        pairs = list(also)
        if not self._released:
            self._released = True
            note_used(self.account)
            if self.holder:
                pairs.append((slots.account_key(self.account.pk), self.holder))
        if pairs:
            await slots.give_back_all(pairs)

    def __del__(self):
        # Safety net: a lease dropped without release() (a caller cancelled at the wrong moment) must not
        # keep its slot until the slot TTL.
        if self._released or not self.holder:
            return
        self._released = True
        log.warning("account %s lease %s dropped without release", self.account.pk, self.holder)
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(slots.release_soon, slots.account_key(self.account.pk), self.holder)


# --- selection --------------------------------------------------------------------------------------
def _routed_ids(routing: dict | None, model: str) -> set[int] | None:
    """The account ids the group routes this model to: exact pattern, then the longest `prefix*`."""
    if not routing:
        return None
    best = patterns.best_match(routing, model)
    ids = routing.get(best) if best is not None else None
    if not isinstance(ids, list) or not ids:
        return None
    wanted = set()
    for value in ids:
        try:
            wanted.add(int(value))
        except (TypeError, ValueError):
            continue
    return wanted or None


def _load_rate(account, load: int) -> int:
    factor = account.effective_load_factor
    return load * 100 // factor if factor > 0 else 0


def _last_used_key(account):
    return (account.last_used_at is not None, account.last_used_at or _NEVER)


async def _admitted(req, account, holder, *, sticky: bool) -> bool:
    """With the account's slot held: whether its RPM and session limits let the request in; if not, the
    slot goes back."""
    reason = await limits.admit(account, req.session_hash, sticky)
    if reason is None:
        return True
    log.info("account %s skipped: %s", account.pk, reason)
    await slots.give_back(slots.account_key(account.id), holder)
    return False


async def _take(req, account, holder, *, reused: bool, bind: bool) -> Lease:
    if bind:
        await sticky.bind(req.group_id, req.session_hash, account.pk)
    upstream = account.upstream
    return Lease(account=account, upstream=upstream, upstream_model=upstream.model_for(account, req.model),
                 mapped_model=upstream.mapped_model(account, req.model), sticky=reused, holder=holder)


async def select_account(req: SelectionRequest, exclude=frozenset(), on_wait=None) -> Lease:
    """Choose an account and take its slot; raise NoAccountAvailable or ConcurrencyLimitExceeded.
    The account is ready for use when it is returned (its upstream's `prepare`, e.g. a fresh OAuth token).

    on_wait: optional async callable invoked every settings.CONCURRENCY_PING_INTERVAL while the request
    queues for a busy account (SSE pings).
    """
    holder = req.request_id or uuid.uuid4().hex
    exclude = frozenset(exclude)
    req = await _resolve_group(req)
    while True:
        tried: list[int] = []
        try:
            lease = await _select(req, exclude, on_wait, holder, tried)
        except (NoAccountAvailable, ConcurrencyLimitExceeded):
            raise
        except BaseException:
            # Cancelled (client gone) or failed after a slot may have been taken: give back every one tried.
            for account_id in tried:
                slots.release_soon(slots.account_key(account_id), holder)
            raise
        try:
            await lease.upstream.prepare(lease.account)
            return lease
        except AccountNotReady as exc:
            # E.g. an OAuth token that cannot be refreshed: the refresh marked the account; pick another.
            log.warning("account %s skipped: %s", lease.account.pk, exc)
            await lease.release()
            exclude = exclude | {lease.account.pk}
        except BaseException:
            await lease.release()
            raise


async def _resolve_group(req: SelectionRequest) -> SelectionRequest:
    """Step 0 of §2.7: a Claude-Code-only group sends other clients along its fallback chain."""
    if req.group_id is None:
        return req
    if not (await snapshot.current(req.group_id, req.platform)).claude_code_only or req.claude_code():
        return req
    group_id, seen = req.group_id, set()
    while (current := await snapshot.current(group_id, req.platform)).claude_code_only:
        seen.add(group_id)
        group_id = current.fallback_group_id
        if group_id is None or group_id in seen:
            raise NoAccountAvailable(CLAUDE_CODE_ONLY)
    return req if group_id == req.group_id else replace(req, group_id=group_id)


async def _bound_account(req: SelectionRequest) -> int | None:
    """The account bound to what the request continues, else to its session."""
    for binding in (req.continues, req.session_hash):
        if binding and (account_id := await sticky.bound_account(req.group_id, binding)) is not None:
            return account_id
    return None


async def _select(req, exclude, on_wait, holder, tried) -> Lease:
    snapshot.watch()
    bound_id = await _bound_account(req)
    current = await snapshot.current(req.group_id, req.platform)
    now = timezone.now()
    model, action = req.model, req.action

    def usable(account, sticky: bool = False) -> bool:
        return (
            account.id not in exclude and account.unschedulable_reason(now) is None
            and limits.window_allows(account, sticky, now)
            and account.upstream.serves(action) and account.upstream.model_for(account, model) is not None
        )

    # Schedulability is only evaluated tier by tier, as far as needed: cheap with hundreds of accounts.
    tiers, filtered = current.tiers, False
    routed_ids = _routed_ids(current.routing, model)
    if routed_ids:
        routed = [[a for a in tier if a.id in routed_ids and usable(a, a.id == bound_id)] for tier in tiers]
        if any(routed):
            tiers, filtered = routed, True

    busy = None
    if bound_id is not None:
        bound = next((a for tier in tiers for a in tier if a.id == bound_id), None)
        if bound is not None and usable(bound, sticky=True):
            tried.append(bound.id)
            try:
                await slots.wait_for_slot(
                    slots.account_key(bound.id), bound.concurrency, holder, scope="account",
                    max_waiting=settings.STICKY_SESSION_MAX_WAITING, timeout=settings.STICKY_SESSION_WAIT_TIMEOUT,
                    on_wait=on_wait,
                )
            except ConcurrencyLimitExceeded as exc:
                busy = (bound, exc)
            else:
                if await _admitted(req, bound, holder, sticky=True):
                    return await _take(req, bound, holder, reused=True, bind=False)
            exclude = exclude | {bound.id}  # busy or at its limits: another account takes over the session
            if filtered:
                tiers = [[a for a in tier if a.id != bound.id] for tier in tiers]

    store = get_store()
    candidates = []
    limited: set[int] = set()  # refused by their RPM or session limit: waiting for a slot would not help
    for tier in tiers:
        tier = tier if filtered else [a for a in tier if usable(a)]
        if not tier:
            continue
        candidates.extend(tier)
        loads = await store.counts([slots.account_key(a.id) for a in tier])
        ranked = sorted(
            zip(tier, loads, strict=True),
            key=lambda item: (_load_rate(*item), _last_used_key(item[0]), item[0].group_sort, item[0].id),
        )
        for account, _ in ranked:
            tried.append(account.id)
            if await slots.take(slots.account_key(account.id), account.concurrency, holder):
                if await _admitted(req, account, holder, sticky=False):
                    return await _take(req, account, holder, reused=False, bind=bool(req.session_hash))
                limited.add(account.id)

    candidates = [a for a in candidates if a.id not in limited]
    if not candidates and busy is not None:
        bound, exc = busy
        if exc.reason == "timeout":
            raise exc  # waited long enough for the session's account, and no other one is left
        candidates = [bound]
    if not candidates:
        if bound_id is not None and req.session_hash:
            await sticky.unbind(req.group_id, req.session_hash)
        reason = " (account limits reached)" if limited else ""
        raise NoAccountAvailable(f"no available account for model {model}{reason}")
    # Every candidate is busy: queue on the best one, by priority then least recent use.
    for account in sorted(candidates, key=lambda a: (a.priority, _last_used_key(a), a.group_sort, a.id)):
        tried.append(account.id)
        try:
            await slots.wait_for_slot(
                slots.account_key(account.id), account.concurrency, holder, scope="account",
                max_waiting=settings.FALLBACK_MAX_WAITING, timeout=settings.FALLBACK_WAIT_TIMEOUT, on_wait=on_wait,
            )
        except ConcurrencyLimitExceeded as exc:
            if exc.reason == "queue_full":
                continue
            raise
        if await _admitted(req, account, holder, sticky=account.id == bound_id):
            return await _take(req, account, holder, reused=False, bind=bool(req.session_hash))
    raise ConcurrencyLimitExceeded("account", "Too many pending requests, please retry later", reason="queue_full")
