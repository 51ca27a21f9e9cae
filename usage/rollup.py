"""Filling the rollups: the periodic aggregation from the watermark, range rebuilds, raw-log retention.

Each run rebuilds whole UTC hours from `watermark − overlap` (floored to the hour) up to now (the
full-dimension hours from raw logs, each coarser level's hours from the smallest level already rebuilt
that holds its dimensions), then every level's days (in TIME_ZONE) those hours touch from its own
hourly rows, and moves the watermark to now. Charges that land a little late (their log's created_at
is before the watermark) are picked up by the overlap. Runs hold a lock on the watermark row, so two
never interleave. Hourly rows are summed into days, so TIME_ZONE must be a whole number of hours from UTC.
"""

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from billing.models import UsageLog
from usage.models import MEASURES, ROLLUPS, AggregationState
from usage.query import RAW_SUMS

log = logging.getLogger(__name__)


def _floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _day_start(moment: dt.datetime) -> dt.datetime:
    local = moment.astimezone(ZoneInfo(settings.TIME_ZONE))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def retention_horizon(now: dt.datetime) -> dt.datetime | None:
    """Raw logs before this may be gone: rebuilding hours before it would lose their rollups."""
    days = settings.USAGE_LOG_RETENTION_DAYS
    return _floor_hour(now - dt.timedelta(days=days)) + dt.timedelta(hours=1) if days > 0 else None


def _insert_select(table, queryset, names: dict[str, str]) -> None:
    """INSERT INTO table (columns) SELECT ... FROM (the grouped queryset): the rows never visit Python.
    `names` maps each table column to the queryset's output column."""
    sql, params = queryset.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in names)
    picked = ", ".join(f"sub.{quote(source)}" for source in names.values())
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(table._meta.db_table)} ({columns}) SELECT {picked} FROM ({sql}) sub",
                       params)


def _summed(source, bucket, dimensions) -> tuple:
    """Rollup rows of `source` regrouped by (bucket expression, dimensions): the queryset and its columns."""
    rows = source.annotate(bucket_=bucket).values("bucket_", *dimensions)
    rows = rows.annotate(**{f"{m}_": Sum(m) for m in MEASURES}).order_by()
    return rows, {"bucket": "bucket_", **{d: d for d in dimensions}, **{m: f"{m}_" for m in MEASURES}}


def _source_table(table, built):
    """The smallest table already built that holds `table`'s dimensions."""
    return next(done for done in reversed(built) if set(table.dimensions) <= set(done.dimensions))


def _rebuild(start: dt.datetime, until: dt.datetime) -> int:
    """Rollups of [start, until) from raw logs (start is an hour boundary); the number of logs read."""
    finest, *coarser = ROLLUPS["hour"]
    finest.objects.filter(bucket__gte=start).delete()
    raw = UsageLog.objects.filter(created_at__gte=start, created_at__lt=until)
    hours = (
        raw.annotate(bucket_=TruncHour("created_at", tzinfo=dt.UTC))
        .values("bucket_", *finest.dimensions).annotate(**RAW_SUMS).order_by()
    )
    columns = {"bucket": "bucket_", **{d: d for d in finest.dimensions}, **{m: m for m in MEASURES}}
    _insert_select(finest, hours, columns)
    built = [finest]
    for table in coarser:
        table.objects.filter(bucket__gte=start).delete()
        source = _source_table(table, built).objects.filter(bucket__gte=start)
        _insert_select(table, *_summed(source, F("bucket"), table.dimensions))
        built.append(table)

    day = _day_start(start)
    for hourly, daily in zip(ROLLUPS["hour"], ROLLUPS["day"], strict=True):
        daily.objects.filter(bucket__gte=day).delete()
        local_day = TruncDay("bucket", tzinfo=ZoneInfo(settings.TIME_ZONE))
        _insert_select(daily, *_summed(hourly.objects.filter(bucket__gte=day), local_day, daily.dimensions))
    return raw.count()


def aggregate(since: dt.datetime | None = None, now: dt.datetime | None = None) -> dict:
    """Bring the rollups up to now; `since` rebuilds from there instead of from the watermark (backfill).

    Returns {"start", "watermark", "logs"}: the first rebuilt hour, the new watermark, logs aggregated."""
    now = now or timezone.now()
    with transaction.atomic():
        state, _ = AggregationState.objects.select_for_update().get_or_create(pk=1)
        if since is None and state.watermark is not None:
            since = state.watermark - dt.timedelta(seconds=settings.USAGE_AGGREGATION_OVERLAP)
        if since is None:
            since = UsageLog.objects.aggregate(first=Min("created_at"))["first"] or now
        start = _floor_hour(min(since, now))
        horizon = retention_horizon(now)
        if horizon is not None and state.watermark is not None and start < horizon:
            start = horizon
        logs = _rebuild(start, now)
        state.watermark = now
        state.save(update_fields=["watermark", "updated_at"])
    return {"start": start, "watermark": now, "logs": logs}


def run_aggregation() -> int:
    """The periodic task (every minute)."""
    return aggregate()["logs"]


def purge_old_logs(now: dt.datetime | None = None, batch_size: int = 5000) -> int:
    """Delete raw logs older than USAGE_LOG_RETENTION_DAYS, in batches; only logs already in the rollups."""
    days = settings.USAGE_LOG_RETENTION_DAYS
    if days <= 0:
        return 0
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=days)
    mark = AggregationState.objects.filter(pk=1).values_list("watermark", flat=True).first()
    if mark is None:
        return 0
    cutoff = min(cutoff, mark)
    deleted = 0
    while True:
        old = UsageLog.objects.filter(created_at__lt=cutoff).order_by("id")
        ids = list(old.values_list("id", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            deleted += UsageLog.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        log.info("deleted %d usage logs older than %s", deleted, cutoff.isoformat())
    return deleted


def parse_since(value: str, name: str = "since") -> dt.datetime:
    """A backfill start: YYYY-MM-DD (midnight in TIME_ZONE) or an ISO datetime; not in the future."""
    from core.rules import RuleError

    text = (value or "").strip()
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), ZoneInfo(settings.TIME_ZONE))
        else:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    except ValueError:
        raise RuleError(f"{name}: must be a date YYYY-MM-DD or an ISO 8601 datetime")
    if moment > timezone.now():
        raise RuleError(f"{name}: must not be in the future")
    return moment


def backfill(since: dt.datetime) -> dict:
    """Rebuild the rollups from `since` to now (no earlier than the retention horizon)."""
    return aggregate(since=since)
