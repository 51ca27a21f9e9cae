"""The one reader of usage numbers: a filter, and grouped sums over rollups plus the live raw tail.

`grouped(f, keys)` answers from the daily or hourly rollups for the part of the range before the
watermark when the range and the filters allow it (whole hours, only rollup dimensions filtered), and
from billing.UsageLog for the rest; the two parts are summed in Python, so every caller sees one list.
Of the rollup levels it reads the smallest that keeps every column the filter, the grouping and the
model source need: a question that names neither a user nor a key never reads the rows kept per key.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import BigIntegerField, Count, F, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, Round, Trim, TruncDay, TruncHour

from billing.models import UsageLog
from core.money import MoneyField
from usage.models import COST_MEASURES, MEASURES, ROLLUPS, TOKEN_MEASURES, AggregationState

MODEL_SOURCES = ("requested", "upstream", "mapping")
FILTER_DIMENSIONS = ("user_id", "api_key_id", "account_id", "group_id", "model", "stream", "billing_type")
TOTAL_TOKEN_PARTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")


def normalize_model_source(value: str | None) -> str:
    """S2: anything but an exact (trimmed) valid source counts as `requested`."""
    value = (value or "").strip()
    return value if value in MODEL_SOURCES else "requested"


@dataclass(frozen=True)
class StatsFilter:
    """What to count. `start` inclusive, `end` exclusive (aware datetimes; None = unbounded);
    `tz` is the zone days and hours are counted in; the rest narrow the logs (None = any)."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    tz: str = "UTC"
    user_id: int | None = None
    api_key_id: int | None = None
    account_id: int | None = None
    group_id: int | None = None
    model: str | None = None  # the requested-model column, exactly
    stream: bool | None = None
    billing_type: int | None = None
    endpoint: str | None = None  # not a rollup dimension: a filter on it reads raw logs
    model_source: str = "requested"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def cache_key(self) -> str:
        data = asdict(self)
        data["model_source"] = normalize_model_source(self.model_source)
        return repr(sorted(data.items()))

    def filtered_dimensions(self) -> tuple[str, ...]:
        return tuple(name for name in FILTER_DIMENSIONS if getattr(self, name) is not None)

    def dimension_filters(self) -> Q:
        return Q(**{name: getattr(self, name) for name in self.filtered_dimensions()})


def watermark() -> dt.datetime | None:
    return AggregationState.objects.filter(pk=1).values_list("watermark", flat=True).first()


def upstream_expression():
    """The upstream model if it is set and not blank, else the requested one."""
    return Coalesce(NullIf(Trim("upstream_model"), Value("")), F("model"))


def model_expression(source: str):
    source = normalize_model_source(source)
    if source == "upstream":
        return upstream_expression()
    if source == "mapping":
        return Concat(F("model"), Value(" -> "), upstream_expression())
    return F("model")


def account_cost_expression():
    """What the account was charged for one log: total_cost × account_rate_multiplier, whole nano-dollars."""
    return Cast(Round(F("total_cost") * F("account_rate_multiplier")), BigIntegerField())


# account_cost first: its F("total_cost") must mean the column, not the total_cost sum annotated after it.
RAW_SUMS = {
    "account_cost": Sum(account_cost_expression(), output_field=MoneyField()),
    "requests": Count("id"),
    "errors": Count("id", filter=Q(status__gte=400)),
    **{name: Sum(name) for name in TOKEN_MEASURES},
    **{name: Sum(name) for name in COST_MEASURES if name != "account_cost"},
    "duration_ms": Sum(Coalesce("duration_ms", 0)),
}
ROLLUP_SUMS = {name: Sum(name) for name in MEASURES}


def _whole_hours(zone: ZoneInfo) -> bool:
    return not dt.datetime(2000, 1, 1, tzinfo=zone).utcoffset().total_seconds() % 3600


def _key_expression(key: str, time_field: str, f: StatsFilter, table=None):
    # A rollup's own bucket already is the day (daily rows, counted in TIME_ZONE) or the hour.
    if table is not None and table.grain == key and (key == "day" or _whole_hours(f.zone)):
        return F("bucket")
    if key == "day":
        return TruncDay(time_field, tzinfo=f.zone)
    if key == "hour":
        return TruncHour(time_field, tzinfo=f.zone)
    if key == "model_dim":
        return model_expression(f.model_source)
    return F(key)


def _aligned(moment: dt.datetime | None, unit: str) -> bool:
    if moment is None:
        return True
    if unit == "day":
        local = moment.astimezone(ZoneInfo(settings.TIME_ZONE))
        return local.time() == dt.time(0)
    return moment.astimezone(dt.UTC).minute == moment.second == moment.microsecond == 0


def _grain(f: StatsFilter, keys: Sequence[str]) -> str | None:
    """"day" or "hour": the rollup buckets that tile the filter's range; None: only raw logs can."""
    if f.endpoint is not None:
        return None
    by_day = "hour" not in keys and f.tz == settings.TIME_ZONE
    if by_day and _aligned(f.start, "day") and _aligned(f.end, "day"):
        return "day"
    if _aligned(f.start, "hour") and _aligned(f.end, "hour"):
        # Counted in another zone, hours must still line up with its day boundaries.
        if "day" in keys and not _whole_hours(f.zone):
            return None
        return "hour"
    return None


def _needed(f: StatsFilter, keys: Sequence[str], model_dim: str | None, among) -> set[str]:
    """The dimension columns a question reads: its filters, its grouping, the model source's columns."""
    needed = set(f.filtered_dimensions()) | {key for key in keys if key not in ("day", "hour", "model_dim")}
    if "model_dim" in keys or model_dim is not None:
        needed |= {"model"} if normalize_model_source(f.model_source) == "requested" else {"model", "upstream_model"}
    if among is not None:
        needed.add(among[0])
    return needed


def _rollup_table(f: StatsFilter, keys: Sequence[str], needed: set[str]):
    grain = _grain(f, keys)
    if grain is None:
        return None
    return next(table for table in reversed(ROLLUPS[grain]) if needed <= set(table.dimensions))


def _sources(f: StatsFilter, keys: Sequence[str], needed: set[str]):
    """[(queryset, rollup table or None for raw logs, sums)] that together cover the filter's logs once."""
    raw = UsageLog.objects.filter(f.dimension_filters())
    if f.endpoint is not None:
        raw = raw.filter(endpoint=f.endpoint)
    mark = watermark() if settings.USAGE_STATS_ROLLUPS else None
    table = _rollup_table(f, keys, needed)
    if mark is None or table is None or (f.start is not None and f.start >= mark):
        return [(_between(raw, "created_at", f.start, f.end), None, RAW_SUMS)]
    rolled = _between(table.objects.filter(f.dimension_filters()), "bucket", f.start, f.end)
    parts = [(rolled, table, ROLLUP_SUMS)]
    tail_start = max(f.start, mark) if f.start is not None else mark
    if f.end is None or tail_start < f.end:
        parts.append((_between(raw, "created_at", tail_start, f.end), None, RAW_SUMS))
    return parts


def _between(qs, field: str, start, end):
    if start is not None:
        qs = qs.filter(**{f"{field}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


def _zero() -> dict:
    return {name: (Decimal(0) if name in COST_MEASURES else 0) for name in MEASURES}


def grouped(f: StatsFilter, keys: Sequence[str] = (), model_dim: str | None = None,
            among: tuple[str, Sequence] | None = None) -> list[dict]:
    """Sums of every measure per combination of `keys` (dimension names, "model_dim", "day", "hour").

    `model_dim` keeps only logs whose model, read per `f.model_source`, equals it; `among` = (dimension,
    values) only those whose dimension is one of the values. Each row also has
    `total_tokens`. Time keys come back as aware datetimes in the filter's zone. Unordered.
    """
    merged: dict[tuple, dict] = {}
    for qs, table, sums in _sources(f, keys, _needed(f, keys, model_dim, among)):
        time_field = "bucket" if table else "created_at"
        aliases = {f"k_{key}": _key_expression(key, time_field, f, table) for key in keys}
        rows = qs if among is None else qs.filter(**{f"{among[0]}__in": list(among[1])})
        if model_dim is not None:
            rows = rows.annotate(k_dim_filter=model_expression(f.model_source)).filter(k_dim_filter=model_dim)
        rows = rows.annotate(**aliases)
        rows = rows.values(*aliases).annotate(**sums).order_by() if keys else [rows.aggregate(**sums)]
        for row in rows:
            group = tuple(row.get(f"k_{key}") for key in keys)
            total = merged.setdefault(group, {**dict(zip(keys, group, strict=True)), **_zero()})
            for name in MEASURES:
                value = row[name]
                if value is not None:
                    total[name] += Decimal(value) if name in COST_MEASURES else int(value)
    for row in merged.values():
        row["total_tokens"] = sum(row[name] for name in TOTAL_TOKEN_PARTS)
        for key in ("day", "hour"):
            if key in row and row[key] is not None:
                row[key] = row[key].astimezone(f.zone)
    if not keys and not merged:
        return [{**_zero(), "total_tokens": 0}]
    return list(merged.values())
