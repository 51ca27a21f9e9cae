"""The rollup task: registered as a periodic job, read by the statistics, rebuilt by the command and the
endpoint; retention deletes only raw logs already rolled up, in batches, and the numbers stay."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import UsageLog
from usage import rollup, stats
from usage.models import ROLLUPS, AggregationState, DailyKeyUsage, DailyTotalUsage, DailyUsage, HourlyUsage
from usage.query import StatsFilter, grouped


def test_aggregation_and_retention_are_periodic_tasks():
    from config.background import PERIODIC_TASKS

    jobs = {dotted: seconds for seconds, dotted in PERIODIC_TASKS}
    assert jobs["usage.rollup.run_aggregation"] == 60
    assert "usage.rollup.purge_old_logs" in jobs


def test_statistics_read_rollups_not_only_raw_logs(world, make_log):
    """Once aggregated, whole-day and whole-hour questions are answered from the rollups: removing the
    raw rows behind the filter's back leaves the answer unchanged (the admin never does this; retention does)."""
    when = timezone.now() - dt.timedelta(days=2)
    for _ in range(4):
        make_log(world.alice, world.key_a1, created_at=when)
    rollup.aggregate()
    UsageLog.objects.all().delete()
    f = stats.make_filter(default_days=7)
    assert stats.totals(f)["requests"] == 4
    hourly = StatsFilter(start=when.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1),
                         end=timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1))
    assert grouped(hourly, ["hour"])[0]["requests"] == 4
    # an unaligned range cannot use the rollups: it reads raw logs
    odd = StatsFilter(start=when - dt.timedelta(minutes=7), end=timezone.now())
    assert grouped(odd)[0]["requests"] == 0


def test_questions_without_user_or_key_read_the_smaller_rollups(world, make_log):
    """Totals, per-model and per-user questions each read their own level, not the rows of every
    dimension: emptying a level behind the filter's back shows which one answered."""
    when = timezone.now() - dt.timedelta(days=2)
    make_log(world.alice, world.key_a1, account=world.account_a, created_at=when)
    make_log(world.bob, world.key_b, account=world.account_b, model="gpt-5", created_at=when)
    rollup.aggregate()
    f = stats.make_filter(default_days=7)
    DailyUsage.objects.all().delete()
    assert stats.totals(f)["requests"] == 2
    assert {r["model"]: r["requests"] for r in stats.models(f)} == {"claude-sonnet-4": 1, "gpt-5": 1}
    assert {r["user_id"] for r in stats.users_ranking(f)} == {world.alice.pk, world.bob.pk}
    # a user filtered per model needs every dimension: that level is gone
    assert stats.models(stats.make_filter(default_days=7, user_id=world.alice.pk)) == []
    DailyKeyUsage.objects.all().delete()
    assert stats.users_ranking(f) == [] and stats.totals(f)["requests"] == 2
    DailyTotalUsage.objects.all().delete()
    assert stats.totals(f)["requests"] == 0


def test_the_live_tail_after_the_watermark_is_counted(world, make_log):
    make_log(world.alice, world.key_a1, created_at=timezone.now() - dt.timedelta(hours=3))
    rollup.aggregate()
    make_log(world.alice, world.key_a1)  # after the watermark, not rolled up yet
    assert HourlyUsage.objects.count() == 1
    assert stats.totals(stats.make_filter(default_days=1))["requests"] == 2


def test_command_rebuilds_from_since_and_refuses_bad_dates(world, make_log):
    make_log(world.alice, world.key_a1, created_at=timezone.now() - dt.timedelta(days=3))
    out = io.StringIO()
    call_command("aggregate_usage", stdout=out)
    assert out.getvalue().startswith("aggregated 1 usage logs")
    tables = (*ROLLUPS["hour"], *ROLLUPS["day"])
    for table in tables:
        table.objects.all().delete()
    # the normal run only looks back from the watermark: the lost day stays lost ...
    call_command("aggregate_usage", stdout=io.StringIO())
    assert not any(table.objects.exists() for table in tables)
    # ... until a backfill rebuilds the range, at every level
    since = (timezone.now() - dt.timedelta(days=5)).date().isoformat()
    call_command("aggregate_usage", "--since", since, stdout=out)
    assert [table.objects.get().requests for table in tables] == [1] * len(tables)
    with pytest.raises(CommandError, match="--since: must be a date"):
        call_command("aggregate_usage", "--since", "last week")
    with pytest.raises(CommandError, match="--since: must not be in the future"):
        call_command("aggregate_usage", "--since", "2999-01-01")


def test_retention_deletes_old_raw_logs_in_batches_and_keeps_the_numbers(world, make_log, settings):
    settings.USAGE_LOG_RETENTION_DAYS = 90
    now = timezone.now()
    for days in (200, 120, 95, 10):
        make_log(world.alice, world.key_a1, created_at=now - dt.timedelta(days=days))
    assert rollup.purge_old_logs() == 0  # nothing is rolled up yet: nothing may go
    rollup.aggregate()
    assert rollup.purge_old_logs(batch_size=1) == 3
    assert list(UsageLog.objects.values_list("created_at", flat=True)) == [now - dt.timedelta(days=10)]
    everything = StatsFilter(tz="UTC")
    assert grouped(everything)[0]["requests"] == 4
    assert stats.spend("user", [world.alice.pk])[world.alice.pk]["total"] == 4 * UsageLog.objects.get().actual_cost
    # a backfill reaching before the horizon keeps the rolled-up old days
    rollup.backfill(now - dt.timedelta(days=300))
    assert grouped(everything)[0]["requests"] == 4
    settings.USAGE_LOG_RETENTION_DAYS = 0
    assert rollup.purge_old_logs() == 0


def test_logs_after_the_watermark_are_never_purged(world, make_log, settings):
    settings.USAGE_LOG_RETENTION_DAYS = 1
    old = make_log(world.alice, world.key_a1, created_at=timezone.now() - dt.timedelta(days=5))
    AggregationState.objects.create(pk=1, watermark=timezone.now() - dt.timedelta(days=6))
    assert rollup.purge_old_logs() == 0 and UsageLog.objects.filter(pk=old.pk).exists()


def test_spend_periods_and_cache_efficiency(world, make_log):
    from decimal import Decimal

    now = timezone.now()
    make_log(world.alice, world.key_a1, account=world.account_a, actual_cost=Decimal("1"), created_at=now)
    make_log(world.alice, world.key_a1, account=world.account_a, actual_cost=Decimal("2"),
             created_at=now - dt.timedelta(days=3))
    make_log(world.alice, world.key_a1, account=world.account_a, actual_cost=Decimal("4"),
             created_at=now - dt.timedelta(days=30), total_cost=Decimal("8"))
    rollup.aggregate()
    spent = stats.spend("api_key", [world.key_a1.pk, world.key_b.pk])
    assert spent[world.key_a1.pk] == {"today": Decimal(1), "7d": Decimal(3), "total": Decimal(7)}
    assert spent[world.key_b.pk]["total"] == 0
    assert stats.spend("account", [world.account_a.pk])[world.account_a.pk]["total"] == Decimal("8.0024690")
    with pytest.raises(stats.StatsError):
        stats.spend("group", [1])

    # claude-sonnet-4 input: $3 / MTok; 1M cached tokens read for $0.30 saved $2.70
    make_log(world.bob, world.key_b, account=world.account_b, input_tokens=0, cache_read_tokens=1_000_000,
             cache_creation_5m_tokens=10, cache_creation_1h_tokens=20, cache_creation_tokens=30,
             cache_read_cost=Decimal("0.3"))
    f = stats.make_filter(default_days=1)
    (by_model,) = stats.cache_efficiency(f, by="model")[:1]
    assert by_model["model"] == "claude-sonnet-4" and by_model["saved"] == Decimal("2.7")
    accounts = {r["account_name"]: r for r in stats.cache_efficiency(f, by="account")}
    assert accounts["acc-b"]["hit_rate"] == round(1_000_000 / 1_000_030, 4)
    assert (accounts["acc-b"]["cache_creation_5m_tokens"], accounts["acc-b"]["cache_creation_1h_tokens"]) == (10, 20)
    assert accounts["acc-a"]["hit_rate"] == 0.0
