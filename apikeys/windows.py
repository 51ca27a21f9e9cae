"""A key's spend windows (5 hours, 1 day, 7 days; spec §2.5, §2.14): the one home of the window rule.

- A window with a limit (> 0) collects the actual cost of every charge. A charge that finds the window
  elapsed (or never started) restarts it: the 5 h window at the moment of that charge, the 1 d and 7 d
  windows at the start of that day (UTC). The charge's SQL comes from `charge_sql`, so billing applies the
  rule inside its one transaction.
- At auth an elapsed window counts as 0; `usage >= limit` refuses the request until the window resets.
- Where the numbers are read: the database is the truth; the store (core.store) holds a copy per key,
  `apikey:rate:{key id}` (Redis hash in production, shared by every process; this process's memory in
  the embedded mode). Every committed charge merges the values its UPDATE returned (`remember`), so the
  next request in any process sees them: the overrun is bounded by the requests already in flight, as
  for the balance and the quota. A copy that is missing is read from the database.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.money import from_nanos, nanos
from core.store import get_store

log = logging.getLogger(__name__)

NAMES = ("5h", "1d", "7d")
LENGTH = {"5h": timedelta(hours=5), "1d": timedelta(days=1), "7d": timedelta(days=7)}
CODES = {name: f"API_KEY_RATE_{name.upper()}_EXCEEDED" for name in NAMES}
STORE_PREFIX = "apikey:rate:"
STORE_TTL = 7 * 24 * 3600  # as long as the longest window


def store_key(key_id: int) -> str:
    return f"{STORE_PREFIX}{key_id}"


def start_for(name: str, now: datetime) -> datetime:
    """Where a window restarted by a charge at `now` begins."""
    if name == "5h":
        return now
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def elapsed(name: str, start: datetime | None, now: datetime) -> bool:
    return start is None or now >= start + LENGTH[name]


@dataclass(frozen=True)
class Window:
    name: str
    limit: Decimal
    used: Decimal  # as stored: may belong to a window that has elapsed since
    start: datetime | None

    @property
    def code(self) -> str:
        return CODES[self.name]

    @property
    def limited(self) -> bool:
        return self.limit > 0

    def used_now(self, now: datetime) -> Decimal:
        return Decimal(0) if elapsed(self.name, self.start, now) else self.used

    def resets_at(self, now: datetime) -> datetime | None:
        """When the current window ends (None: no window runs; the next charge starts one)."""
        return None if elapsed(self.name, self.start, now) else self.start + LENGTH[self.name]

    def exceeded(self, now: datetime) -> bool:
        return self.limited and self.used_now(now) >= self.limit

    def fraction(self, now: datetime) -> float:
        """Share of the limit used, for bars (0..1)."""
        if not self.limited:
            return 0.0
        return float(min(self.used_now(now) / self.limit, Decimal(1)))

    def report(self, now: datetime) -> dict:
        """What the API and /v1/usage say about the window."""
        resets = self.resets_at(now)
        return {
            "limit": self.limit, "used": self.used_now(now),
            "remaining": max(self.limit - self.used_now(now), Decimal(0)) if self.limited else None,
            "window_start": None if resets is None else self.start, "resets_at": resets,
        }


def of(key, state: dict | None = None) -> list[Window]:
    """The three windows of a key (model or auth snapshot); `state` (from the store) overrides the key's
    own usage and starts."""
    out = []
    for name in NAMES:
        used, start = getattr(key, f"usage_{name}", Decimal(0)), getattr(key, f"window_{name}_start", None)
        if state is not None and name in state:
            used, start = state[name]
        out.append(Window(name, getattr(key, f"rate_limit_{name}"), used, start))
    return out


def has_limits(key) -> bool:
    return any(getattr(key, f"rate_limit_{name}") > 0 for name in NAMES)


def first_exceeded(windows: list[Window], now: datetime) -> Window | None:
    return next((w for w in windows if w.exceeded(now)), None)


# --- the copy in the store ------------------------------------------------------------------------------
def _encode(state: dict) -> dict[str, tuple[int, int]]:
    """name → (start as epoch microseconds, 0 = none; used in nano-dollars)."""
    out = {}
    for name, (used, start) in state.items():
        micros = 0 if start is None else int(start.timestamp() * 1_000_000)
        out[name] = (micros, nanos(used))
    return out


def _decode(raw: dict[str, tuple[int, int]]) -> dict:
    out = {}
    for name, (micros, used) in raw.items():
        start = None if not micros else datetime.fromtimestamp(micros / 1_000_000, UTC)
        out[name] = (from_nanos(used), start)
    return out


def remember(key_id: int, state: dict) -> None:
    """A committed charge's new values (name → (used, start)) into the store. Merged, never overwritten
    backwards: a later window start wins, and within one window the larger total (charges that commit in
    one order may report in the other)."""
    try:
        get_store().merge_windows(store_key(key_id), _encode(state), STORE_TTL)
    except Exception:
        # The store is down: auth then reads the database, which has the charge.
        log.warning("spend windows: could not update the store for key %s", key_id, exc_info=True)


def forget(key_id: int) -> None:
    """The key's usage was reset: the next check reads the database."""
    try:
        get_store().delete_now([store_key(key_id)])
    except Exception:
        log.warning("spend windows: could not drop the store's copy for key %s", key_id, exc_info=True)


def load_state(key_id: int) -> dict:
    """The database's values (sync)."""
    from apikeys.models import ApiKey

    row = ApiKey.objects.filter(pk=key_id).values(
        *[f"usage_{n}" for n in NAMES], *[f"window_{n}_start" for n in NAMES]
    ).first() or {}
    return {n: (row.get(f"usage_{n}", Decimal(0)), row.get(f"window_{n}_start")) for n in NAMES}


async def current(key) -> list[Window]:
    """The key's windows as every process sees them now (store, else database)."""
    from core import db

    store = get_store()
    try:
        raw = await store.read_windows(store_key(key.key_id))
    except Exception:
        log.warning("spend windows: the store is unavailable, reading the database", exc_info=True)
        return of(key, await db.run(load_state, key.key_id))
    if raw is None:
        state = await db.run(load_state, key.key_id)
        try:
            store.merge_windows(store_key(key.key_id), _encode(state), STORE_TTL)
        except Exception:
            log.warning("spend windows: could not fill the store for key %s", key.key_id, exc_info=True)
        return of(key, state)
    return of(key, _decode(raw))


def parse_returned(values: tuple, to_datetime) -> dict:
    """The charge's RETURNING values (used nanos, start) per window, in NAMES order."""
    state = {}
    for index, name in enumerate(NAMES):
        used, start = values[2 * index], values[2 * index + 1]
        state[name] = (from_nanos(used), to_datetime(start))
    return state


# --- the charge's SQL ------------------------------------------------------------------------------------
def charge_sql(column) -> tuple[str, list[str]]:
    """SET clauses adding a charge to every limited window (restarting elapsed ones), and the columns to
    return. `column(name)` quotes a column. Parameters come from `charge_params`, in the same order.
    Both engines evaluate every SET expression on the row's old values."""
    clauses, returning = [], []
    for name in NAMES:
        limit, used, start = column(f"rate_limit_{name}"), column(f"usage_{name}"), column(f"window_{name}_start")
        restart = f"{start} IS NULL OR {start} <= %s"
        clauses.append(
            f"{used} = CASE WHEN {limit} <= 0 THEN {used} WHEN {restart} THEN %s ELSE {used} + %s END"
        )
        clauses.append(f"{start} = CASE WHEN {limit} <= 0 THEN {start} WHEN {restart} THEN %s ELSE {start} END")
        returning += [used, start]
    return ", ".join(clauses), returning


def charge_params(delta_nanos: int, now: datetime, prepare) -> list:
    """`prepare(datetime)` adapts a datetime for the connection."""
    params = []
    for name in NAMES:
        threshold = prepare(now - LENGTH[name])
        params += [threshold, delta_nanos, delta_nanos, threshold, prepare(start_for(name, now))]
    return params
