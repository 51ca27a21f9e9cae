"""Account choice for one request (spec §2.6-2.7).

INTERFACE (shared by the relay and the scheduler work): the relay calls `select_account` once per
attempt, passing the ids of accounts that already failed this request, and releases the returned
lease when the attempt ends (success, error, disconnect).

How an account is chosen:
1. Candidates: the accounts of the key's group (ungrouped accounts for a key without group) on the
   request's platform that can take a request now (`Account.unschedulable_reason`, which includes the
   quota rule) and support the model, minus the request's failed accounts. They come from a snapshot
   cached per (group, platform) and dropped whenever an account, group or membership changes.
2. The group's model routing, when enabled and a pattern matches the model, narrows the candidates to
   the routed accounts (if any of them is usable).
3. Sticky session: the account bound to the request's session hash is reused while it is a candidate;
   if it is busy the request queues on it briefly; a binding to an unusable account is replaced.
4. Otherwise by lowest priority number, lowest load ((slots held + waiting) / load factor), least
   recently used (never used first), the group's drag order; the first whose slot can be taken wins.
5. All busy: queue on the best account for a bounded time, then ConcurrencyLimitExceeded. No candidate
   at all: NoAccountAvailable.
"""

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import db
from gateway import slots
from gateway.slots import ConcurrencyLimitExceeded

log = logging.getLogger(__name__)

VERSION_KEY = "sched:version"
_NEVER = datetime.min.replace(tzinfo=UTC)


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


@dataclass
class Lease:
    """An account chosen for one attempt, holding its concurrency slot until released."""

    account: object  # accounts.models.Account, shared with other requests: change it only through its methods
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


# --- snapshot ---------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    accounts: list  # Account objects (all columns, proxy joined) with `group_sort`
    routing: dict | None  # the group's {pattern: [account ids]} when routing is enabled
    version: tuple = ()
    loaded_at: float = 0.0
    tiers: list = field(default_factory=list)  # the accounts grouped by priority, lowest number first

    def __post_init__(self):
        ordered = sorted(self.accounts, key=lambda a: a.priority)
        self.tiers = [list(tier) for _, tier in itertools.groupby(ordered, key=lambda a: a.priority)]


_snapshots: dict[tuple, Snapshot] = {}
_loading: dict[tuple, asyncio.Task] = {}
_epoch = 0  # bumped by every invalidate() in this process
_sync_redis = None


def _redis_sync():
    global _sync_redis
    if _sync_redis is None:
        import redis

        _sync_redis = redis.Redis.from_url(settings.REDIS_URL)
    return _sync_redis


def _bump_shared_version():
    if not settings.REDIS_URL:
        return
    try:
        _redis_sync().incr(VERSION_KEY)
    except Exception:
        log.exception("could not publish the scheduler snapshot invalidation")


def invalidate() -> None:
    """Drop every cached candidate list, here and (through Redis) in every gateway process.

    Call it after changing anything the scheduler reads about an account, group or membership with a
    queryset update; model saves and deletes are covered by signals. Safe inside a transaction: the
    shared version is bumped again after commit, so no process keeps a copy read before the commit.
    """
    global _epoch
    _epoch += 1
    _snapshots.clear()
    _bump_shared_version()
    # Without a usable connection in this context the immediate bump stands alone.
    with contextlib.suppress(Exception):
        transaction.on_commit(_bump_after_commit)


def _bump_after_commit():
    global _epoch
    _epoch += 1
    _snapshots.clear()
    _bump_shared_version()


def _load(group_id: int | None, platform: str) -> Snapshot:
    from accounts.models import Account
    from groups.models import Group

    accounts = Account.objects.filter(platform=platform, status=Account.Status.ACTIVE, schedulable=True)
    routing = None
    if group_id:
        from django.db.models import F

        accounts = accounts.filter(memberships__group_id=group_id).annotate(group_sort=F("memberships__sort_value"))
        group = Group.objects.filter(pk=group_id).values("model_routing_enabled", "model_routing").first()
        if group and group["model_routing_enabled"] and isinstance(group["model_routing"], dict):
            routing = group["model_routing"]
    else:
        accounts = accounts.filter(memberships__isnull=True)
    loaded = list(accounts.select_related("proxy"))
    for account in loaded:
        if not hasattr(account, "group_sort"):
            account.group_sort = 0
        local = _last_used.get(account.pk)
        if local and (account.last_used_at is None or local > account.last_used_at):
            account.last_used_at = local
    return Snapshot(accounts=loaded, routing=routing)


async def _snapshot(group_id, platform, shared_version) -> Snapshot:
    key = (group_id, platform)
    version = (shared_version, _epoch)
    snapshot = _snapshots.get(key)
    if snapshot and snapshot.version == version and time.monotonic() - snapshot.loaded_at < (
        settings.SCHEDULER_SNAPSHOT_MAX_AGE
    ):
        return snapshot
    # One load per (group, platform, version) at a time: a burst after an invalidation shares it.
    loop = asyncio.get_running_loop()
    loading_key = (id(loop), key, version)
    task = _loading.get(loading_key)
    if task is None:
        task = _loading[loading_key] = loop.create_task(db.run(_load, group_id, platform))
        task.add_done_callback(lambda _: _loading.pop(loading_key, None))
    snapshot = await asyncio.shield(task)
    if snapshot.version == ():
        snapshot.version, snapshot.loaded_at = version, time.monotonic()
        if version[1] == _epoch:  # not invalidated while loading
            _snapshots[key] = snapshot
    return snapshot


# --- sticky sessions --------------------------------------------------------------------------------
_sticky_local: dict[str, tuple[int, float]] = {}


def _sticky_key(req: SelectionRequest) -> str:
    return f"sticky_session:{req.group_id or 0}:{req.session_hash}"


async def _shared_state(req: SelectionRequest) -> tuple[int, int | None]:
    """(snapshot version shared through Redis, account bound to the session) in one round trip."""
    if settings.REDIS_URL:
        from core.redis import get_redis

        async with get_redis().pipeline(transaction=False) as pipe:
            pipe.get(VERSION_KEY)
            if req.session_hash:
                pipe.get(_sticky_key(req))
            results = await pipe.execute()
        bound = results[1] if len(results) > 1 else None
        return int(results[0] or 0), int(bound) if bound else None
    if not req.session_hash:
        return 0, None
    entry = _sticky_local.get(_sticky_key(req))
    if entry and entry[1] > time.monotonic():
        return 0, entry[0]
    return 0, None


async def _bind(req: SelectionRequest, account_id: int) -> None:
    if not req.session_hash:
        return
    if settings.REDIS_URL:
        from core.redis import get_redis

        await get_redis().set(_sticky_key(req), account_id, ex=settings.STICKY_SESSION_TTL)
        return
    now = time.monotonic()
    if len(_sticky_local) > 100_000:  # drop expired bindings now and then
        for key in [k for k, (_, expires) in _sticky_local.items() if expires <= now]:
            _sticky_local.pop(key, None)
    _sticky_local[_sticky_key(req)] = (account_id, now + settings.STICKY_SESSION_TTL)


async def _unbind(req: SelectionRequest) -> None:
    if settings.REDIS_URL:
        from core.redis import get_redis

        await get_redis().delete(_sticky_key(req))
    else:
        _sticky_local.pop(_sticky_key(req), None)


async def sticky_account_id(group_id: int | None, session_hash: str) -> int | None:
    """The account a session is bound to (admin views, tests)."""
    req = SelectionRequest(group_id=group_id, platform="", model="", user_id=0, api_key_id=0, session_hash=session_hash)
    return (await _shared_state(req))[1]


# --- last use: kept in memory, written to the database in batches -------------------------------------
_last_used: dict[int, datetime] = {}
_pending_last_used: dict[int, datetime] = {}
_last_flush = time.monotonic()
_flush_tasks: set = set()


def note_used(account) -> None:
    global _last_flush
    now = timezone.now()
    account.last_used_at = now  # the snapshot object: this process's LRU order sees it at once
    _last_used[account.pk] = _pending_last_used[account.pk] = now
    if time.monotonic() - _last_flush >= settings.LAST_USED_FLUSH_INTERVAL:
        _last_flush = time.monotonic()
        try:
            task = asyncio.get_running_loop().create_task(db.run(flush_last_used))
        except RuntimeError:
            flush_last_used()
            return
        _flush_tasks.add(task)
        task.add_done_callback(_flush_tasks.discard)


def flush_last_used() -> int:
    """Write the pending last-use times in one UPDATE (also a periodic task for the embedded mode)."""
    from django.db.models import Case, F, Value, When

    from accounts.models import Account

    pending = dict(_pending_last_used)
    for pk, when in pending.items():
        if _pending_last_used.get(pk) == when:
            _pending_last_used.pop(pk, None)
    if not pending:
        return 0
    whens = [When(pk=pk, then=Value(when)) for pk, when in pending.items()]
    return Account.objects.filter(pk__in=pending).update(last_used_at=Case(*whens, default=F("last_used_at")))


# --- selection --------------------------------------------------------------------------------------
def _routed_ids(routing: dict | None, model: str) -> set[int] | None:
    """The account ids the group routes this model to: exact pattern, then the longest `prefix*`."""
    if not routing:
        return None
    ids = routing.get(model)
    if ids is None:
        best = max(
            (p for p in routing if isinstance(p, str) and p.endswith("*") and model.startswith(p[:-1])),
            key=len, default=None,
        )
        ids = routing.get(best) if best else None
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


async def _take(req, account, holder, *, sticky: bool, bind: bool) -> Lease:
    if bind:
        await _bind(req, account.pk)
    return Lease(account=account, sticky=sticky, holder=holder)


async def select_account(req: SelectionRequest, exclude=frozenset(), on_wait=None) -> Lease:
    """Choose an account and take its slot; raise NoAccountAvailable or ConcurrencyLimitExceeded.
    An OAuth account's token is fresh when it is returned (accounts.oauth.ensure_fresh_token).

    on_wait: optional async callable invoked every settings.CONCURRENCY_PING_INTERVAL while the request
    queues for a busy account (SSE pings).
    """
    from accounts.oauth import TokenRefreshError, ensure_fresh_token

    holder = req.request_id or uuid.uuid4().hex
    exclude = frozenset(exclude)
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
            # An OAuth token about to expire is refreshed before use; one that cannot be refreshed has
            # just been marked by the refresh, so the next round picks another account.
            await ensure_fresh_token(lease.account)
            return lease
        except TokenRefreshError as exc:
            log.warning("account %s skipped: %s", lease.account.pk, exc)
            await lease.release()
            exclude = exclude | {lease.account.pk}
        except BaseException:
            await lease.release()
            raise


async def _select(req, exclude, on_wait, holder, tried) -> Lease:
    shared_version, bound_id = await _shared_state(req)
    snapshot = await _snapshot(req.group_id, req.platform, shared_version)
    now = timezone.now()
    model = req.model

    def usable(account) -> bool:
        return account.id not in exclude and account.unschedulable_reason(now) is None and account.supports_model(model)

    # Schedulability is only evaluated tier by tier, as far as needed: cheap with hundreds of accounts.
    tiers, filtered = snapshot.tiers, False
    routed_ids = _routed_ids(snapshot.routing, model)
    if routed_ids:
        routed = [[a for a in tier if a.id in routed_ids and usable(a)] for tier in tiers]
        if any(routed):
            tiers, filtered = routed, True

    busy = None
    if bound_id is not None:
        bound = next((a for tier in tiers for a in tier if a.id == bound_id), None)
        if bound is not None and usable(bound):
            tried.append(bound.id)
            try:
                await slots.wait_for_slot(
                    slots.account_key(bound.id), bound.concurrency, holder, scope="account",
                    max_waiting=settings.STICKY_SESSION_MAX_WAITING, timeout=settings.STICKY_SESSION_WAIT_TIMEOUT,
                    on_wait=on_wait,
                )
                return await _take(req, bound, holder, sticky=True, bind=False)
            except ConcurrencyLimitExceeded as exc:
                busy = (bound, exc)
                exclude = exclude | {bound.id}  # busy: another account takes over the session
                if filtered:
                    tiers = [[a for a in tier if a.id != bound.id] for tier in tiers]

    limiter = slots.get_limiter()
    candidates = []
    for tier in tiers:
        tier = tier if filtered else [a for a in tier if usable(a)]
        if not tier:
            continue
        candidates.extend(tier)
        loads = await limiter.counts([slots.account_key(a.id) for a in tier])
        ranked = sorted(
            zip(tier, loads, strict=True),
            key=lambda item: (_load_rate(*item), _last_used_key(item[0]), item[0].group_sort, item[0].id),
        )
        for account, _ in ranked:
            tried.append(account.id)
            if await slots.take(slots.account_key(account.id), account.concurrency, holder):
                return await _take(req, account, holder, sticky=False, bind=bool(req.session_hash))

    if not candidates and busy is not None:
        bound, exc = busy
        if exc.reason == "timeout":
            raise exc  # waited long enough for the session's account, and no other one is left
        candidates = [bound]
    if not candidates:
        if bound_id is not None:
            await _unbind(req)
        raise NoAccountAvailable(f"no available account for model {model}")
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
        return await _take(req, account, holder, sticky=False, bind=bool(req.session_hash))
    raise ConcurrencyLimitExceeded("account", "Too many pending requests, please retry later", reason="queue_full")


# --- invalidation (connected in gateway.apps) ---------------------------------------------------------
def on_scheduling_changed(sender=None, **kwargs):
    """accounts.signals.scheduling_changed: an account, group or membership changed."""
    invalidate()
