"""The scheduler's cached candidate lists: per (group, platform), the accounts that may serve requests,
loaded in one query and kept until something they depend on changes.

`invalidate()` (the receiver of accounts.signals.scheduling_changed) drops them in this process at once
and, through a message on the store's CHANNEL, in every other process once the change is committed. Each
process listens (`watch`), so no request has to ask whether its copy is still current; a listener that
lost its connection treats that as "everything changed". A copy is also dropped after
SCHEDULER_SNAPSHOT_MAX_AGE seconds, as a safety net.
"""

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from core import db
from core.store import get_store
from gateway import upstreams
from gateway.scheduler import lastused

log = logging.getLogger(__name__)

CHANNEL = "sched:invalidate"


@dataclass
class Snapshot:
    accounts: list  # Account objects (all columns, proxy joined) with `group_sort`
    routing: dict | None  # the group's {pattern: [account ids]} when routing is enabled
    claude_code_only: bool = False  # the group's; with fallback_group_id, see choice._resolve_group
    fallback_group_id: int | None = None
    version: tuple = ()
    loaded_at: float = 0.0
    tiers: list = field(default_factory=list)  # the accounts grouped by priority, lowest number first

    def __post_init__(self):
        ordered = sorted(self.accounts, key=lambda a: a.priority)
        self.tiers = [list(tier) for _, tier in itertools.groupby(ordered, key=lambda a: a.priority)]


_snapshots: dict[tuple, Snapshot] = {}
_loading: dict[tuple, asyncio.Task] = {}
_epoch = 0  # bumped by every invalidation seen in this process


def _drop_local(message: str = "") -> None:
    global _epoch
    _epoch += 1
    _snapshots.clear()


def watch() -> None:
    """Hear the invalidations of every other process (idempotent; from the event loop)."""
    get_store().listen(CHANNEL, _drop_local)


def _bump_shared() -> None:
    _drop_local()
    try:
        get_store().publish(CHANNEL, "changed")  # every process; the memory store tells the host's others
    except Exception:
        log.exception("could not publish the scheduler snapshot invalidation")


def invalidate() -> None:
    """Drop every cached candidate list, here now and everywhere once the change is committed (a process
    that read the rows before the commit reloads after it)."""
    _drop_local()
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        _bump_shared()
    elif not any(entry[1] is _bump_shared for entry in conn.run_on_commit):  # once per transaction
        transaction.on_commit(_bump_shared)


def _load(group_id: int | None, platform: str) -> Snapshot:
    from django.db.models import F

    from accounts.models import Account
    from groups.models import Group

    accounts = Account.objects.filter(platform=platform, status=Account.Status.ACTIVE, schedulable=True)
    routing, flags = None, {}
    if group_id:
        accounts = accounts.filter(memberships__group_id=group_id).annotate(group_sort=F("memberships__sort_value"))
        group = Group.objects.filter(pk=group_id).values(
            "model_routing_enabled", "model_routing", "claude_code_only", "fallback_group_id"
        ).first()
        if group and group["model_routing_enabled"] and isinstance(group["model_routing"], dict):
            routing = group["model_routing"]
        if group:
            flags = {"claude_code_only": group["claude_code_only"], "fallback_group_id": group["fallback_group_id"]}
    else:
        accounts = accounts.filter(memberships__isnull=True)
    # An account no upstream adapter serves is never a candidate (never relayed as something else).
    loaded = []
    for account in accounts.select_related("proxy"):
        account.upstream = upstreams.for_account(account)
        if account.upstream is not None:
            loaded.append(account)
    for account in loaded:
        if not hasattr(account, "group_sort"):
            account.group_sort = 0
        local = lastused.seen_here(account.pk)
        if local and (account.last_used_at is None or local > account.last_used_at):
            account.last_used_at = local
    return Snapshot(accounts=loaded, routing=routing, **flags)


async def current(group_id, platform) -> Snapshot:
    """The candidate list for (group, platform), loaded when stale."""
    key = (group_id, platform)
    version = (_epoch,)
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
        if version[0] == _epoch:  # not invalidated while loading
            _snapshots[key] = snapshot
    return snapshot


def cached(group_id, platform) -> Snapshot | None:
    return _snapshots.get((group_id, platform))
