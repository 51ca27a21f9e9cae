"""The statistics benchmark: N usage logs over 30 days, each dashboard endpoint's p50 over a 30-day range
answered from the rollups and (USAGE_STATS_ROLLUPS off) from the raw logs, and the aggregation's time
per 10,000 new logs. It also checks that both ways give the same answer.

    .venv/bin/python -m bench.stats --rows 1000000 --mode embedded   --data-dir /tmp/bench-stats
    .venv/bin/python -m bench.stats --rows 1000000 --mode production --database-url postgres://.../db

The database is wiped first: give it one of its own. Results: a Markdown table on stdout and JSON in
--results-dir.
"""

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ENDPOINTS = [
    ("dashboard/stats", ""),
    ("dashboard/trend", "&granularity=day"),
    ("dashboard/trend (hour)", "&granularity=hour"),
    ("dashboard/models", ""),
    ("dashboard/models (mapping)", "&model_source=mapping"),
    ("dashboard/groups", ""),
    ("dashboard/user-breakdown", ""),
    ("dashboard/users-ranking", ""),
    ("dashboard/api-keys-trend", ""),
    ("usage/stats", ""),
]
MODELS = ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "gpt-5", "gpt-5-mini", "gemini-2.5-pro"]
BATCH = 5000


def _environment(args):
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["USAGE_STATS_CACHE_TTL"] = "0"
    os.environ["USAGE_LOG_RETENTION_DAYS"] = "0"
    os.environ.pop("REDIS_URL", None)
    os.environ["DATA_DIR"] = args.data_dir
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    if args.mode == "production":
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ.pop("DATABASE_URL", None)


def _wipe_and_seed(rng):
    from django.db import connection

    from accounts.models import Account
    from apikeys.models import ApiKey
    from billing.models import FailedCharge, UsageLog
    from groups.models import Group
    from usage.models import ROLLUPS, AggregationState
    from users.models import User

    # The ORM would load a million logs to null FailedCharge.usage_log (and SQLite refuses that many
    # parameters): with the one table that points at them emptied first, plain DELETEs do.
    FailedCharge.objects.all().delete()
    with connection.cursor() as cursor:
        for model in (UsageLog, *ROLLUPS["hour"], *ROLLUPS["day"]):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
    for model in (AggregationState, ApiKey, Account, Group):
        model.objects.all().delete()
    User.objects.exclude(role=User.Role.ADMIN).delete()
    groups = [Group.objects.create(name=f"bench-g{i}", platform="anthropic") for i in range(5)]
    accounts = [Account.objects.create(name=f"bench-a{i}", platform="anthropic", type="apikey") for i in range(20)]
    users = [User.objects.create_user(f"bench{i}@example.com", None) for i in range(100)]
    keys = [ApiKey.objects.create_key(user=users[i % 100], name=f"k{i}", group=groups[i % 5])[0] for i in range(200)]
    if not User.objects.filter(role=User.Role.ADMIN).exists():
        User.objects.create_user("bench-admin@example.com", None, role=User.Role.ADMIN, is_staff=True)
    return keys, accounts


def _profiles(rng, keys, accounts):
    """Each key has its habits, as real clients do: two models, streaming or not, two accounts of its group;
    the first five accounts map models to upstream ids (as Bedrock accounts do)."""
    by_group = {}
    for index, account in enumerate(accounts):
        by_group.setdefault(index % 5, []).append(account)
    groups = sorted({key.group_id for key in keys})
    profiles = {}
    for key in keys:
        pool = by_group[groups.index(key.group_id) % 5]
        profiles[key.pk] = (rng.sample(MODELS, 2), rng.random() < 0.7, rng.sample(pool, min(2, len(pool))))
    mapped = {account.pk for account in accounts[:5]}
    return profiles, mapped


def _insert(rng, keys, accounts, count, start, end, offset=0):
    """Plain executemany of whole rows: the Django model layer would take most of the benchmark's time."""
    from django.db import connection, transaction

    from billing.models import UsageLog

    fields = [f for f in UsageLog._meta.concrete_fields if f.name != "id"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (f"INSERT INTO {UsageLog._meta.db_table} ({columns}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    profiles, mapped = _profiles(random.Random(7), keys, accounts)
    base = {f.attname: f.get_default() for f in fields}
    base.update(rate_multiplier=Decimal(1), account_rate_multiplier=Decimal(1), endpoint="/v1/messages")
    span = (end - start).total_seconds()
    adapt = connection.ops.adapt_datetimefield_value
    done = 0
    while done < count:
        batch = []
        for i in range(done, min(done + BATCH, count)):
            key = rng.choice(keys)
            models, streams, pool = profiles[key.pk]
            model, account = rng.choice(models), rng.choice(pool)
            cost = rng.randint(1000, 20_000_000)  # nano-dollars
            row = dict(base)
            row.update(
                request_id=f"b{offset + i}", user_id=key.user_id, api_key_id=key.pk, group_id=key.group_id,
                account_id=account.pk, model=model, upstream_model=f"us.{model}-v1" if account.pk in mapped else None,
                input_tokens=rng.randint(10, 4000), output_tokens=rng.randint(1, 2000),
                cache_read_tokens=rng.randint(0, 8000), cache_creation_tokens=rng.randint(0, 1000),
                input_cost=0, output_cost=0, cache_read_cost=0, cache_creation_cost=0, total_cost=cost,
                actual_cost=cost, stream=streams if rng.random() < 0.9 else not streams,
                status=200 if rng.random() < 0.98 else 500, duration_ms=rng.randint(200, 30000),
                created_at=adapt(start + dt.timedelta(seconds=rng.uniform(0, span))),
            )
            batch.append(tuple(row[f.attname] for f in fields))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch)
        done += len(batch)


def _p50(call, runs: int) -> tuple[float, object]:
    call()  # warm
    times, answer = [], None
    for _ in range(runs):
        begin = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times), answer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=11, help="timed calls per endpoint from the rollups")
    parser.add_argument("--raw-runs", type=int, default=3, help="timed calls per endpoint from the raw logs")
    parser.add_argument("--mode", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--data-dir", default="var/bench-stats")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgres://postgres@127.0.0.1:5432/subrelay_bench"))
    parser.add_argument("--results-dir", default="bench/results")
    args = parser.parse_args(argv)
    _environment(args)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from apikeys.models import AdminApiKey
    from usage import rollup

    call_command("migrate", verbosity=0)
    rng = random.Random(13)
    keys, accounts = _wipe_and_seed(rng)
    now = timezone.now()
    begin = time.perf_counter()
    _insert(rng, keys, accounts, args.rows, now - dt.timedelta(days=30), now - dt.timedelta(minutes=20))
    insert_s = time.perf_counter() - begin
    begin = time.perf_counter()
    rollup.aggregate()
    full_s = time.perf_counter() - begin

    per_10k = []
    for round_ in range(3):
        moment = timezone.now()
        _insert(rng, keys, accounts, 10_000, moment - dt.timedelta(minutes=1), moment,
                offset=args.rows + round_ * 10_000)
        begin = time.perf_counter()
        rollup.aggregate()
        per_10k.append((time.perf_counter() - begin) * 1000)

    if connection.vendor == "postgresql":
        # The planner statistics autovacuum keeps on a live database (a host may run with it off, as this
        # VM does: the freshly loaded tables would then be planned blind).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    load_before = os.getloadavg()[0]  # a shared host's other work shows up in every figure
    client = Client(headers={"x-api-key": AdminApiKey.current().secret})
    today = timezone.localdate()
    dates = f"start_date={(today - dt.timedelta(days=29)).isoformat()}&end_date={today.isoformat()}"
    rows, problems = [], []
    for name, extra in ENDPOINTS:
        path = "/api/v1/admin/" + name.split(" ")[0] + f"?{dates}{extra}"

        def call(path=path):
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.content[:300]!r}")
            return response.json()["data"]

        rolled_ms, rolled = _p50(call, args.runs)
        with override_settings(USAGE_STATS_ROLLUPS=False):
            raw_ms, raw = _p50(call, args.raw_runs)
        if name != "dashboard/stats" and rolled != raw:  # stats holds rpm of the moving last 5 minutes
            problems.append(f"{name}: rollups and raw logs disagree")
        rows.append({"endpoint": name, "rollups_p50_ms": round(rolled_ms, 1), "raw_p50_ms": round(raw_ms, 1),
                     "ratio": round(raw_ms / rolled_ms, 1) if rolled_ms else None})

    engine = "PostgreSQL" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "SQLite"
    report = {"engine": engine, "rows": args.rows, "insert_s": round(insert_s, 1),
              "full_aggregation_s": round(full_s, 1), "aggregation_ms_per_10k": round(statistics.median(per_10k), 1),
              "endpoints": rows, "problems": problems,
              "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print(f"\n{engine}, {args.rows:,} usage logs over 30 days (inserted in {insert_s:.0f} s; first aggregation "
          f"{full_s:.1f} s; aggregation per 10,000 new logs {report['aggregation_ms_per_10k']} ms; load average "
          f"{report['load_average'][0]} before the endpoint timings, {report['load_average'][1]} after)\n")
    print("| endpoint, 30-day range | rollups p50 ms | raw logs p50 ms | raw / rollups |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['endpoint']} | {row['rollups_p50_ms']} | {row['raw_p50_ms']} | {row['ratio']}x |")
    for problem in problems:
        print("PROBLEM:", problem)
    results = Path(args.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"stats-{engine.lower()}-{args.rows}-{int(time.time())}.json"
    out.write_text(json.dumps(report, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
