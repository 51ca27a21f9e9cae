"""Rollups + live tail equal the raw logs, for random logs, random ranges, random filters and groupings, at
every rollup level (both engines)."""

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from usage import rollup
from usage.models import ROLLUPS, HourlyUsage
from usage.query import StatsFilter, _needed, _rollup_table, grouped

NOW = dt.datetime(2026, 5, 20, 15, 27, 13, tzinfo=dt.UTC)
MODELS = ["claude-sonnet-4", "claude-haiku-4-5", "gpt-5"]
UPSTREAMS = [None, "", "us.anthropic.claude-sonnet-4-v1", "claude-sonnet-4"]


def _random_logs(rng, world, make_log, count, start, end):
    keys = [world.key_a1, world.key_a2, world.key_b]
    logs = []
    span = (end - start).total_seconds()
    for _ in range(count):
        key = rng.choice(keys)
        logs.append(make_log(
            key.user, key, account=rng.choice([world.account_a, world.account_b, None]),
            model=rng.choice(MODELS), upstream_model=rng.choice(UPSTREAMS), stream=rng.random() < 0.5,
            billing_type=rng.choice([0, 1]), status=rng.choice([200, 200, 200, 429, 500]),
            input_tokens=rng.randint(0, 5000), output_tokens=rng.randint(0, 2000),
            cache_read_tokens=rng.randint(0, 9000), cache_creation_tokens=rng.randint(0, 3000),
            cache_creation_5m_tokens=rng.randint(0, 1000), cache_creation_1h_tokens=rng.randint(0, 1000),
            total_cost=Decimal(rng.randint(0, 10**7)) / 10**9, actual_cost=Decimal(rng.randint(0, 10**7)) / 10**9,
            cache_read_cost=Decimal(rng.randint(0, 10**6)) / 10**9,
            account_rate_multiplier=Decimal(rng.choice(["1", "0.5", "1.25"])),
            duration_ms=rng.choice([None, rng.randint(1, 90000)]),
            created_at=start + dt.timedelta(seconds=rng.uniform(0, span)),
        ))
    return logs


def _expected(logs, f: StatsFilter, keys):
    """The same sums computed in Python from the log objects."""
    zone = ZoneInfo(f.tz)
    out = defaultdict(lambda: defaultdict(Decimal))
    for log in logs:
        if f.start and log.created_at < f.start or f.end and log.created_at >= f.end:
            continue
        if any(getattr(f, n) is not None and getattr(log, n) != getattr(f, n)
               for n in ("user_id", "api_key_id", "account_id", "group_id", "model", "stream", "billing_type")):
            continue
        local = log.created_at.astimezone(zone)
        upstream = (log.upstream_model or "").strip() or log.model
        values = {"day": local.date(), "hour": local.replace(minute=0, second=0, microsecond=0),
                  "model": log.model, "account_id": log.account_id, "user_id": log.user_id,
                  "api_key_id": log.api_key_id, "group_id": log.group_id,
                  "model_dim": {"requested": log.model, "upstream": upstream,
                                "mapping": f"{log.model} -> {upstream}"}[f.model_source]}
        row = out[tuple(values[k] for k in keys)]
        row["requests"] += 1
        row["errors"] += log.status >= 400
        for n in ("input_tokens", "cache_read_tokens", "cache_creation_5m_tokens", "total_cost", "actual_cost"):
            row[n] += getattr(log, n)
        row["duration_ms"] += log.duration_ms or 0
    return {k: dict(v) for k, v in out.items()}


def _actual(f, keys):
    result = {}
    for row in grouped(f, keys):
        if not row["requests"]:
            continue
        group = tuple(row[k].date() if k == "day" else row[k] for k in keys)
        result[group] = {n: row[n] for n in ("requests", "errors", "input_tokens", "cache_read_tokens",
                                             "cache_creation_5m_tokens", "total_cost", "actual_cost",
                                             "duration_ms")}
    return result


def _norm(expected):
    return {k: {n: (v if n in ("total_cost", "actual_cost") else int(v)) for n, v in row.items()}
            for k, row in expected.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_plus_tail_equal_raw_for_random_ranges(seed, world, make_log, settings):
    settings.USAGE_LOG_RETENTION_DAYS = 0
    rng = random.Random(seed)
    early = NOW - dt.timedelta(days=9)
    logs = _random_logs(rng, world, make_log, 150, early, NOW)
    rollup.aggregate(now=NOW)  # everything before NOW is rolled up
    for table in (*ROLLUPS["hour"], *ROLLUPS["day"]):  # every level holds every log once
        assert sum(table.objects.values_list("requests", flat=True)) == len(logs), table
    # the live tail, after the watermark
    logs += _random_logs(rng, world, make_log, 30, NOW, NOW + dt.timedelta(hours=5))

    levels = set()
    for _ in range(40):
        tz = rng.choice(["UTC", "UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"])
        zone = ZoneInfo(tz)
        day = (early + dt.timedelta(days=rng.randint(-1, 9))).astimezone(zone).date()
        kind = rng.choice(["days", "hours", "seconds"])
        if kind == "days":
            start = dt.datetime.combine(day, dt.time(0), zone)
            end = start + dt.timedelta(days=rng.randint(1, 12))
        elif kind == "hours":
            start = dt.datetime.combine(day, dt.time(rng.randint(0, 23)), zone)
            end = start + dt.timedelta(hours=rng.randint(1, 300))
        else:
            start = early + dt.timedelta(seconds=rng.uniform(0, 9 * 86400))
            end = start + dt.timedelta(seconds=rng.uniform(1, 4 * 86400))
        narrow = rng.choice([{}, {}, {"user_id": world.alice.pk}, {"account_id": world.account_b.pk},
                             {"model": "gpt-5", "stream": True}, {"billing_type": 1, "api_key_id": world.key_b.pk},
                             {"group_id": world.group_a.pk}])
        f = StatsFilter(start=start, end=end, tz=tz, model_source=rng.choice(["requested", "upstream", "mapping"]),
                        **narrow)
        keys = rng.choice([[], ["day"], ["hour"], ["model"], ["day", "account_id"], ["user_id"], ["model_dim"],
                           ["day", "api_key_id"], ["group_id"]])
        expected = _norm(_expected(logs, f, keys))
        assert _actual(f, keys) == expected, (f, keys)
        table = _rollup_table(f, keys, _needed(f, keys, None, None))
        levels.add(table and table.dimensions)
    # the draws reached every level, and ranges only the raw logs can answer
    assert levels == {None, *(table.dimensions for table in ROLLUPS["hour"])}, levels


def test_rerun_and_late_charges_are_counted_once(world, make_log, settings):
    settings.USAGE_LOG_RETENTION_DAYS = 0
    first = make_log(world.alice, world.key_a1, created_at=NOW - dt.timedelta(minutes=30))
    rollup.aggregate(now=NOW)
    rollup.aggregate(now=NOW + dt.timedelta(seconds=30))
    # a charge committed late, its log dated before the watermark but inside the overlap
    make_log(world.alice, world.key_a1, created_at=NOW - dt.timedelta(seconds=20))
    rollup.aggregate(now=NOW + dt.timedelta(seconds=60))
    f = StatsFilter(start=NOW - dt.timedelta(hours=2), end=NOW + dt.timedelta(hours=1))
    assert grouped(f)[0]["requests"] == 2
    assert sum(HourlyUsage.objects.values_list("requests", flat=True)) == 2
    assert grouped(f)[0]["total_cost"] == first.total_cost * 2
