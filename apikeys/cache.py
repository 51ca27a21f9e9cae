"""The gateway's key-auth cache and its invalidation.

INTERFACE: every code path that changes an API key, its user or its group calls one of the
`invalidate_*` functions after the change is committed (model signals in `apikeys/signals.py` cover
`save()`/`delete()`; queryset `.update()` callers must call them themselves).

Two tiers hold a `KeySnapshot` (plain values, never live model instances) per SHA-256 of a key:
- L1: a dict in this process, `AUTH_CACHE_LOCAL_TTL` seconds (15 s);
- L2: `apikey:auth:{hash}` in the shared store (core.store; production only, Redis), `AUTH_CACHE_TTL`
  seconds ±10 %, 30 s for unknown keys.
An invalidation drops the entry from this process, from the shared store, and from every other
process's L1 through the store's channel `auth:cache:invalidate`, so an edit is seen by the next request
anywhere.
"""

import asyncio
import json
import logging
import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from core import db
from core.store import get_store

log = logging.getLogger(__name__)

SHARED_PREFIX = "apikey:auth:"
CHANNEL = "auth:cache:invalidate"
NEGATIVE_TTL = 30
_MISSING = object()


DECIMALS = ("quota", "quota_used", "user_balance", "rate_multiplier", "rate_limit_5h", "rate_limit_1d",
            "rate_limit_7d")


@dataclass(frozen=True)
class KeySnapshot:
    """What key auth and charging need to know about a key, its user and its group."""

    key_id: int
    key_hash: str
    status: str
    ip_whitelist: tuple
    ip_blacklist: tuple
    quota: Decimal
    quota_used: Decimal
    expires_at: datetime | None
    user_id: int
    user_status: str
    user_balance: Decimal
    user_concurrency: int
    group_id: int | None = None
    group_status: str | None = None
    group_platform: str | None = None
    group_is_subscription: bool = False
    # The user's own multiplier for the group if set, else the group's (<= 0 is read as 1 by billing).
    rate_multiplier: Decimal = Decimal(1)
    # Spend windows' limits (USD, 0 = off; usage is read through apikeys.windows), key concurrency and RPM.
    rate_limit_5h: Decimal = Decimal(0)
    rate_limit_1d: Decimal = Decimal(0)
    rate_limit_7d: Decimal = Decimal(0)
    concurrency: int = 0
    rpm_limit: int = 0

    def to_json(self) -> str:
        data = asdict(self)
        for name in DECIMALS:
            data[name] = str(data[name])
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw) -> "KeySnapshot":
        data = json.loads(raw)
        for name in DECIMALS:
            if name in data:  # one written before a field existed takes its default
                data[name] = Decimal(data[name])
        data["expires_at"] = datetime.fromisoformat(data["expires_at"]) if data["expires_at"] else None
        data["ip_whitelist"] = tuple(data["ip_whitelist"])
        data["ip_blacklist"] = tuple(data["ip_blacklist"])
        return cls(**data)


def load_snapshot(key_hash: str) -> KeySnapshot | None:
    """One query: the key with its user, group and the user's rate override for that group."""
    from django.db.models import OuterRef, Subquery

    from apikeys.models import ApiKey
    from users.models import UserGroupRate

    override = UserGroupRate.objects.filter(user=OuterRef("user_id"), group=OuterRef("group_id"))
    key = (
        ApiKey.objects.select_related("user", "group")
        .annotate(user_rate=Subquery(override.values("rate_multiplier")[:1]))
        .filter(key_hash=key_hash)
        .first()
    )
    if key is None:
        return None
    user, group = key.user, key.group
    snapshot = KeySnapshot(
        key_id=key.pk, key_hash=key.key_hash, status=key.status,
        ip_whitelist=tuple(key.ip_whitelist or ()), ip_blacklist=tuple(key.ip_blacklist or ()),
        quota=key.quota, quota_used=key.quota_used, expires_at=key.expires_at,
        user_id=user.pk, user_status=user.status, user_balance=user.balance, user_concurrency=user.concurrency,
        rate_limit_5h=key.rate_limit_5h, rate_limit_1d=key.rate_limit_1d, rate_limit_7d=key.rate_limit_7d,
        concurrency=key.concurrency, rpm_limit=key.rpm_limit,
    )
    if group is None:
        return snapshot
    rate = key.user_rate if key.user_rate is not None else group.rate_multiplier
    return KeySnapshot(**{
        **snapshot.__dict__,
        "group_id": group.pk, "group_status": group.status, "group_platform": group.platform,
        "group_is_subscription": group.is_subscription, "rate_multiplier": Decimal(rate),
    })


# --- L1 ------------------------------------------------------------------------------------------
_local: dict[str, tuple[float, KeySnapshot | None]] = {}
_by_user: dict[int, set[str]] = {}  # user id → the key hashes of theirs held in L1
# Bumped by every invalidation: a load that started before one must not put what it read.
_generation = {"*": 0}
# Writers come from the event loop, charge threads and signal receivers; lookups only read one entry.
_lock = threading.Lock()


def _local_get(key_hash: str):
    entry = _local.get(key_hash)
    if entry is None or entry[0] < time.monotonic():
        return _MISSING
    return entry[1]


LOCAL_MAX_ENTRIES = 50_000


def _generation_of(key_hash: str) -> tuple[int, int]:
    return _generation["*"], _generation.get(key_hash, 0)


def _local_put(key_hash: str, snapshot: KeySnapshot | None, generation: tuple[int, int] | None = None):
    if generation is not None and generation != _generation_of(key_hash):
        return  # invalidated while it was being read
    now = time.monotonic()
    ttl = settings.AUTH_CACHE_LOCAL_TTL if snapshot is not None else min(settings.AUTH_CACHE_LOCAL_TTL, NEGATIVE_TTL)
    with _lock:
        if len(_local) >= LOCAL_MAX_ENTRIES:  # e.g. a flood of made-up keys: forget what has expired
            for stale in [h for h, (until, _) in _local.items() if until < now]:
                del _local[stale]
            if len(_local) >= LOCAL_MAX_ENTRIES:
                _local.clear()
                _by_user.clear()
        _local[key_hash] = (now + ttl, snapshot)
        if snapshot is not None:
            _by_user.setdefault(snapshot.user_id, set()).add(key_hash)


def charged(key_hash: str, user_id: int, *, balance=None, key_used=None, key_status=None) -> None:
    """A charge committed in this process: the cached state it changed shows the new values at once (the
    user's balance in all their keys, the key's quota used and status)."""
    with _lock:
        for cached_hash in list(_by_user.get(user_id, ())):
            entry = _local.get(cached_hash)
            if entry is None or entry[1] is None:
                continue
            changes = {}
            if balance is not None:
                changes["user_balance"] = balance
            if cached_hash == key_hash and key_used is not None:
                changes["quota_used"] = key_used
            if cached_hash == key_hash and key_status is not None:
                changes["status"] = key_status
            if changes:
                _local[cached_hash] = (entry[0], replace(entry[1], **changes))


# --- lookup (async, gateway) -------------------------------------------------------------------


_inflight: dict[tuple[int, str], asyncio.Future] = {}


async def lookup(key_hash: str) -> KeySnapshot | None:
    """The snapshot of a key by hash, or None for an unknown key."""
    # A key refused here never takes a concurrency slot, so this is where a key re-enabled by another
    # process (a command in embedded mode) must be noticed.
    get_store().notice_others()
    found = _local_get(key_hash)
    if found is not _MISSING:
        return found
    # One load per key at a time: a burst that arrives after the entry expired waits for the first
    # request's answer instead of each one querying the database (and opening its own connection).
    flight = (id(asyncio.get_running_loop()), key_hash)
    pending = _inflight.get(flight)
    if pending is None:
        pending = _inflight[flight] = asyncio.ensure_future(_load(key_hash))
        pending.add_done_callback(lambda _: _inflight.pop(flight, None))
    return await asyncio.shield(pending)  # a waiter that gives up does not cancel the others' load


async def _load(key_hash: str) -> KeySnapshot | None:
    """The store's tier (shared by every process in production), else the database."""
    store = get_store()
    store.listen(CHANNEL, _drop_local)
    generation = _generation_of(key_hash)
    if not store.shared:  # one process: this process's L1 is all the caching there is
        snapshot = await db.run(load_snapshot, key_hash)
        _local_put(key_hash, snapshot, generation)
        return snapshot
    try:
        raw = await store.get(SHARED_PREFIX + key_hash)
    except Exception:
        # The store (Redis) is down: the database still answers (slower, and nothing is cached meanwhile).
        log.warning("auth cache: the shared store is unavailable, reading the key from the database", exc_info=True)
        return await db.run(load_snapshot, key_hash)
    if raw is not None:
        snapshot = None if raw == b"null" else KeySnapshot.from_json(raw)
    else:
        snapshot = await db.run(load_snapshot, key_hash)
        ttl = NEGATIVE_TTL if snapshot is None else int(settings.AUTH_CACHE_TTL * random.uniform(0.9, 1.1))
        try:
            # Only where nothing is: an invalidation that came while this was read has deleted the entry,
            # and a value read before it must not be put back over what came after.
            if generation == _generation_of(key_hash):
                value = "null" if snapshot is None else snapshot.to_json()
                await store.set(SHARED_PREFIX + key_hash, value, ttl, only_if_absent=True)
        except Exception:
            log.warning("auth cache: could not store the key in the shared store", exc_info=True)
    _local_put(key_hash, snapshot, generation)
    return snapshot


def _drop_local(key_hash: str):
    """An invalidation message: "*" (everything may have changed) or one key hash."""
    with _lock:
        if key_hash == "*":
            _generation["*"] += 1
            _local.clear()
            _by_user.clear()
        else:
            _generation[key_hash] = _generation.get(key_hash, 0) + 1
            _local.pop(key_hash, None)


# --- invalidation (sync, called after commit) ----------------------------------------------------
def _broadcast(key_hashes: list[str]):
    if not key_hashes:
        return
    store = get_store()
    try:
        store.delete_now([SHARED_PREFIX + h for h in key_hashes if h != "*"])
        for key_hash in key_hashes:
            store.publish(CHANNEL, key_hash)
    except Exception:
        log.exception("auth cache invalidation through the shared store failed")


def invalidate_key(key_hash: str) -> None:
    """One key changed."""
    _drop_local(key_hash)
    _broadcast([key_hash])


def invalidate_user(user_id: int) -> None:
    """A user changed (status, balance top-up, concurrency, rate override): all of their keys."""
    from apikeys.models import ApiKey

    hashes = list(ApiKey.objects.filter(user_id=user_id).values_list("key_hash", flat=True))
    for key_hash in hashes:
        _drop_local(key_hash)
    _broadcast(hashes)


def invalidate_all() -> None:
    """A group changed: every cached key (groups are few and change rarely)."""
    _drop_local("*")
    store = get_store()
    try:
        store.delete_prefix(SHARED_PREFIX)
        store.publish(CHANNEL, "*")
    except Exception:
        log.exception("auth cache invalidation through the shared store failed")
