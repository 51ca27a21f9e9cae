"""The account quota rule (spec S4, S1) at model level: one expiry rule for charge, scheduler and display."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections
from django.utils import timezone

from accounts import quota
from accounts.models import Account

D = Decimal


def account(**fields):
    return Account.objects.create(name="q", type=fields.pop("type", "apikey"), **fields)


@pytest.mark.django_db
def test_first_charge_starts_the_daily_period_and_leaves_weekly_alone():  # S4 check 1
    acc = account(quota_daily_limit=D(10))
    before = timezone.now()
    assert acc.charge_quota(D(4)) is False
    acc.refresh_from_db()
    assert (acc.quota_used, acc.quota_daily_used) == (D(4), D(4))
    assert acc.quota_daily_start >= before
    assert acc.quota_weekly_used == 0 and acc.quota_weekly_start is None


@pytest.mark.django_db
def test_reaching_the_daily_limit_makes_the_account_unschedulable():  # S4 check 2
    acc = account(quota_daily_limit=D(10))
    acc.charge_quota(D(4))
    acc.charge_quota(D(3))
    assert acc.charge_quota(D(3)) is True
    acc.refresh_from_db()
    assert acc.quota_daily_used == D(10) and acc.quota_exceeded()
    assert acc.unschedulable_reason() == "quota exceeded"


@pytest.mark.django_db
def test_a_charge_after_the_period_restarts_it():  # S4 check 3
    start = timezone.now() - timedelta(hours=24)
    acc = account(quota_daily_limit=D(10), quota_daily_used=D(10), quota_used=D(10), quota_daily_start=start)
    acc.charge_quota(D(2))
    acc.refresh_from_db()
    assert acc.quota_daily_used == D(2) and acc.quota_used == D(12)
    assert acc.quota_daily_start > start + timedelta(hours=23)


@pytest.mark.django_db
def test_expired_period_displays_zero_but_keeps_the_stored_value():  # S1 checks 1, 2; S4 check 4
    now = timezone.now()
    acc = account(quota_daily_limit=D(10), quota_daily_used=D(11), quota_daily_start=now - timedelta(hours=25))
    assert quota.used_now(acc, quota.DAILY) == 0 and acc.is_schedulable()
    acc.refresh_from_db()
    assert acc.quota_daily_used == D(11)
    acc = account(quota_daily_limit=D(10), quota_daily_used=D(11), quota_daily_start=now - timedelta(hours=23))
    assert quota.used_now(acc, quota.DAILY) == D(11) and not acc.is_schedulable()


def test_rolling_boundary_is_inclusive():
    now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    acc = Account(type="apikey", quota_daily_start=now - timedelta(hours=24))
    assert quota.period_expired(acc, quota.DAILY, now)
    acc.quota_daily_start = now - timedelta(hours=24) + timedelta(microseconds=1)
    assert not quota.period_expired(acc, quota.DAILY, now)


def test_weekly_and_missing_start():  # S1 checks 3, 4
    now = timezone.now()
    acc = Account(type="apikey", quota_weekly_limit=D(50), quota_weekly_used=D(60))
    acc.quota_weekly_start = now - timedelta(days=7, seconds=1)
    assert quota.used_now(acc, quota.WEEKLY, now) == 0
    acc.quota_weekly_start = now - timedelta(days=6)
    assert quota.used_now(acc, quota.WEEKLY, now) == D(60)
    acc = Account(type="apikey", quota_daily_limit=D(10), quota_daily_used=D(5), quota_daily_start=None)
    assert quota.used_now(acc, quota.DAILY, now) == 0


def test_fixed_daily_mode_uses_the_last_boundary():  # S1 check 5
    acc = Account(type="apikey", quota_daily_reset_mode="fixed", quota_daily_reset_hour=0, quota_reset_timezone="UTC",
                  quota_daily_limit=D(10), quota_daily_used=D(7))
    now = datetime(2026, 3, 20, 1, tzinfo=UTC)
    acc.quota_daily_start = datetime(2026, 3, 19, 23, tzinfo=UTC)
    assert quota.used_now(acc, quota.DAILY, now) == 0
    acc.quota_daily_start = datetime(2026, 3, 20, 0, 30, tzinfo=UTC)
    assert quota.used_now(acc, quota.DAILY, now) == D(7)


def test_total_is_never_zeroed_and_oauth_ignores_quota():  # S1 check 6, S4 check 11
    acc = Account(type="apikey", quota_limit=D(100), quota_used=D(120))
    assert acc.quota_exceeded()
    oauth = Account(type="oauth", quota_limit=D(1), quota_used=D(5), quota_daily_limit=D(1))
    assert not oauth.quota_exceeded() and not oauth.has_quota


@pytest.mark.django_db
def test_oauth_accounts_are_never_charged():  # S4 check 11
    acc = account(type="oauth", quota_daily_limit=D(10))
    assert acc.charge_quota(D(4)) is False
    acc.refresh_from_db()
    assert acc.quota_used == 0 and acc.quota_daily_start is None


@pytest.mark.django_db
def test_total_crossing_is_served_then_blocks():  # S4 check 5
    acc = account(quota_limit=D(100), quota_used=D("99.5"))
    assert acc.is_schedulable()
    assert acc.charge_quota(D(1)) is True
    acc.refresh_from_db()
    assert acc.quota_used == D("100.5") and not acc.is_schedulable()


@pytest.mark.django_db
def test_periods_without_limit_are_never_written():  # S4 check 6
    acc = account(quota_limit=D(50))
    acc.charge_quota(D(3))
    acc.refresh_from_db()
    assert acc.quota_daily_used == 0 and acc.quota_daily_start is None and acc.quota_weekly_start is None


@pytest.mark.django_db
def test_bedrock_accounts_have_quota_too():  # S3 check 6
    acc = account(type="bedrock", quota_limit=D(5), quota_used=D(5))
    assert not acc.is_schedulable()
    acc.reset_quota()
    assert acc.is_schedulable()


@pytest.mark.django_db
def test_reset_zeroes_counters_and_forgets_starts():  # S4 check 9
    now = timezone.now()
    acc = account(quota_limit=D(9), quota_used=D(9), quota_daily_limit=D(1), quota_daily_used=D(1),
                  quota_daily_start=now, quota_weekly_limit=D(2), quota_weekly_used=D(2), quota_weekly_start=now)
    Account.objects.filter(pk=acc.pk).reset_quota()
    acc.refresh_from_db()
    assert (acc.quota_used, acc.quota_daily_used, acc.quota_weekly_used) == (0, 0, 0)
    assert acc.quota_daily_start is None and acc.quota_weekly_start is None
    assert acc.quota_limit == D(9)


@pytest.mark.django_db
def test_editing_an_account_never_overwrites_runtime_counters():  # S4 checks 7, 8
    acc = account(quota_daily_limit=D(10))
    stale = Account.objects.get(pk=acc.pk)
    acc.charge_quota(D(10))  # a request charges while the admin has the form open
    stale.quota_daily_limit = D(20)
    stale.quota_daily_used = D(0)  # what a client might send back
    stale.save()
    acc.refresh_from_db()
    assert acc.quota_daily_limit == D(20) and acc.quota_daily_used == D(10)
    assert acc.is_schedulable()


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_sum_exactly():  # S4 check 10
    acc = account(quota_limit=D(1000), quota_daily_limit=D(1000), quota_weekly_limit=D(1000))
    errors = []

    def charge():
        try:
            Account.objects.get(pk=acc.pk).charge_quota(D("0.5"))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=charge) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    acc.refresh_from_db()
    assert acc.quota_used == acc.quota_daily_used == acc.quota_weekly_used == D(10)


def test_fixed_reset_at_in_a_time_zone():  # S4 check 12
    acc = Account(type="apikey", quota_daily_reset_mode="fixed", quota_daily_reset_hour=8,
                  quota_reset_timezone="Asia/Shanghai", quota_daily_limit=D(1))
    seven_local = datetime(2026, 3, 20, 7, tzinfo=UTC) - timedelta(hours=8)  # 07:00 in Shanghai
    assert quota.resets_at(acc, quota.DAILY, seven_local) == datetime(2026, 3, 20, 0, tzinfo=UTC)
    nine_local = seven_local + timedelta(hours=2)
    assert quota.resets_at(acc, quota.DAILY, nine_local) == datetime(2026, 3, 21, 0, tzinfo=UTC)


def test_fixed_weekly_boundary_uses_sunday_based_weekday():
    acc = Account(type="apikey", quota_weekly_reset_mode="fixed", quota_weekly_reset_day=1, quota_weekly_reset_hour=9,
                  quota_reset_timezone="UTC", quota_weekly_limit=D(1))
    wednesday = datetime(2026, 3, 18, 12, tzinfo=UTC)
    assert quota.last_fixed_boundary(acc, quota.WEEKLY, wednesday) == datetime(2026, 3, 16, 9, tzinfo=UTC)  # Monday
    assert quota.next_fixed_boundary(acc, quota.WEEKLY, wednesday) == datetime(2026, 3, 23, 9, tzinfo=UTC)


def test_invalid_config_is_reported_per_field():
    acc = Account(type="apikey", quota_daily_reset_hour=24, quota_weekly_reset_day=7,
                  quota_reset_timezone="Mars/Olympus", quota_daily_reset_mode="sometimes", quota_limit=D(-1))
    errors = quota.validate_config(acc)
    assert errors["quota_daily_reset_hour"] == "quota_daily_reset_hour must be between 0 and 23"
    assert set(errors) == {"quota_daily_reset_hour", "quota_weekly_reset_day", "quota_reset_timezone",
                           "quota_daily_reset_mode", "quota_limit"}


@pytest.mark.django_db
def test_switching_to_fixed_mode_restarts_a_stale_window():
    acc = account(quota_daily_limit=D(10), quota_daily_used=D(8),
                  quota_daily_start=timezone.now() - timedelta(days=3))
    acc.quota_daily_reset_mode = "fixed"
    acc.save()
    acc.apply_quota_config()
    acc.refresh_from_db()
    assert acc.quota_daily_used == 0
    assert acc.quota_daily_start == quota.last_fixed_boundary(acc, quota.DAILY, timezone.now())
