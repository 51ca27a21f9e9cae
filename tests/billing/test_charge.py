"""The one charge transaction (billing/charge.py): what moves, exactly once, and in parallel exactly."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from billing.charge import ChargeRequest, charge
from billing.cost import Usage
from billing.models import UsageLog
from tests.live import make_setup
from users.models import Subscription, UserGroupRate

pytestmark = pytest.mark.django_db(transaction=True)
HAIKU = "claude-haiku-4-5"  # $1 per million input tokens: 100,000 tokens cost $0.10


def request_for(setup, tokens: int, *, request_id=None, account=None, model=HAIKU, multiplier=None, **fields):
    key = ApiKey.objects.get(pk=setup.key.pk)
    return ChargeRequest(
        request_id=request_id or f"client:{uuid.uuid4()}", api_key_id=key.pk, key_hash=key.key_hash,
        key_quota=key.quota, user_id=setup.user.pk, group_id=setup.group.pk,
        account=account if account is not None else setup.account, model=model,
        usage=fields.pop("usage", None) or Usage(input_tokens=tokens),
        rate_multiplier=multiplier if multiplier is not None else setup.group.rate_multiplier, **fields,
    )


def test_balance_key_quota_and_usage_log():
    setup = make_setup("http://upstream.invalid", balance="10", key_fields={"quota": Decimal("5")})
    entry = charge(request_for(setup, 100_000))
    setup.refresh()
    assert setup.user.balance == Decimal("9.9")
    assert setup.key.quota_used == Decimal("0.1")
    assert entry.total_cost == Decimal("0.1") and entry.actual_cost == Decimal("0.1")
    assert entry.billing_type == UsageLog.BillingType.BALANCE
    assert not entry.priced_by_fallback


def test_group_multiplier_doubles_what_the_key_and_user_pay_s7_9():
    setup = make_setup("http://upstream.invalid", balance="10", group_rate="2.0", key_fields={"quota": Decimal("5")})
    entry = charge(request_for(setup, 100_000))
    setup.refresh()
    assert entry.total_cost == Decimal("0.1")
    assert setup.key.quota_used == Decimal("0.2")
    assert setup.user.balance == Decimal("9.8")
    assert entry.rate_multiplier == Decimal(2)


def test_user_rate_override_wins_over_group():
    from apikeys.cache import load_snapshot

    setup = make_setup("http://upstream.invalid", group_rate="2.0")
    UserGroupRate.objects.create(user=setup.user, group=setup.group, rate_multiplier=Decimal("0.5"))
    snapshot = load_snapshot(setup.key.key_hash)
    assert snapshot.rate_multiplier == Decimal("0.5")
    entry = charge(request_for(setup, 100_000, multiplier=snapshot.rate_multiplier))
    assert entry.actual_cost == Decimal("0.05")


@pytest.mark.parametrize("account_type", ["apikey", "bedrock"])
def test_account_quota_uses_total_cost_times_account_multiplier_s3_7(account_type):
    setup = make_setup("http://upstream.invalid", group_rate="3", account_type=account_type,
                       account_fields={"rate_multiplier": Decimal("1.5"), "quota_limit": Decimal("100")})
    charge(request_for(setup, 400_000))
    setup.refresh()
    assert setup.account.quota_used == Decimal("0.6")


def test_key_quota_crossing_flips_to_exhausted_s7_2():
    setup = make_setup("http://upstream.invalid", key_fields={"quota": Decimal("5"), "quota_used": Decimal("4.9")})
    charge(request_for(setup, 300_000))
    setup.refresh()
    assert setup.key.quota_used == Decimal("5.2")
    assert setup.key.status == ApiKey.Status.QUOTA_EXHAUSTED


def test_inactive_key_is_never_flipped():
    setup = make_setup("http://upstream.invalid", key_fields={"quota": Decimal("1"), "status": "inactive"})
    charge(request_for(setup, 2_000_000))
    setup.refresh()
    assert setup.key.status == ApiKey.Status.INACTIVE and setup.key.quota_used == Decimal("2")


def test_unlimited_key_is_not_tracked_s7_3():
    setup = make_setup("http://upstream.invalid")
    for _ in range(5):
        charge(request_for(setup, 100_000))
    setup.refresh()
    assert setup.key.quota_used == 0 and setup.key.status == ApiKey.Status.ACTIVE


@pytest.mark.parametrize("account_quota", ["10", "0"], ids=["account-quota", "no-account-quota"])
def test_same_request_id_charges_once(account_quota):
    # Without an account quota PostgreSQL charges in one statement, with one in a transaction of several.
    setup = make_setup("http://upstream.invalid", balance="10", key_fields={"quota": Decimal("5")},
                       account_fields={"quota_limit": Decimal(account_quota)})
    request = request_for(setup, 100_000, request_id="client:fixed")
    assert charge(request) is not None
    assert charge(request) is None
    setup.refresh()
    assert UsageLog.objects.count() == 1
    assert setup.user.balance == Decimal("9.9")
    assert setup.key.quota_used == Decimal("0.1")
    assert setup.account.quota_used == (Decimal("0.1") if account_quota != "0" else 0)


def test_the_service_tier_is_logged_and_priced_once():
    setup = make_setup("http://upstream.invalid", balance="10", platform="openai")
    request = request_for(setup, 0, request_id="client:tier", model="gpt-5",
                          usage=Usage(output_tokens=100_000, service_tier="priority"))
    assert charge(request).service_tier == "priority"
    assert charge(request) is None
    setup.refresh()
    log = UsageLog.objects.get()
    assert (log.service_tier, log.output_cost) == ("priority", Decimal("2"))  # 100k × $10 per million × 2
    assert setup.user.balance == Decimal("8")


def test_daily_account_quota_period_s4_1_to_3():
    setup = make_setup("http://upstream.invalid", account_fields={"quota_daily_limit": Decimal("10")})
    account = setup.account
    charge(request_for(setup, 4_000_000, account=account))
    account.refresh_from_db()
    assert account.quota_used == Decimal("4") and account.quota_daily_used == Decimal("4")
    assert account.quota_daily_start is not None and account.quota_weekly_start is None
    charge(request_for(setup, 3_000_000, account=account))
    charge(request_for(setup, 3_000_000, account=account))
    account.refresh_from_db()
    assert account.quota_daily_used == Decimal("10") and account.quota_exceeded()
    # A day later the period restarts at the next charge.
    type(account).objects.filter(pk=account.pk).update(quota_daily_start=timezone.now() - timedelta(hours=25))
    account.refresh_from_db()
    charge(request_for(setup, 2_000_000, account=account))
    account.refresh_from_db()
    assert account.quota_daily_used == Decimal("2") and account.quota_used == Decimal("12")


def test_oauth_account_quota_is_never_charged_s4_11():
    setup = make_setup("http://upstream.invalid", account_type="oauth",
                       account_fields={"quota_daily_limit": Decimal("1")})
    charge(request_for(setup, 5_000_000))
    setup.refresh()
    assert setup.account.quota_used == 0 and setup.account.quota_daily_used == 0


def test_subscription_windows_take_total_cost_not_balance():
    setup = make_setup("http://upstream.invalid", balance="10", group_rate="2",
                       group_fields={"subscription_type": "subscription", "daily_limit_usd": Decimal("5")})
    sub = Subscription.objects.create(user=setup.user, group=setup.group,
                                      expires_at=timezone.now() + timedelta(days=30))
    entry = charge(request_for(setup, 100_000, subscription_id=sub.pk))
    sub.refresh_from_db()
    setup.refresh()
    assert entry.billing_type == UsageLog.BillingType.SUBSCRIPTION
    assert sub.daily_usage == Decimal("0.1") and sub.weekly_usage == Decimal("0.1")
    assert sub.monthly_usage == Decimal("0.1") and sub.daily_window_start is not None
    assert setup.user.balance == Decimal("10")


def test_unknown_model_is_flagged():
    setup = make_setup("http://upstream.invalid")
    entry = charge(request_for(setup, 1000, model="mystery-model"))
    assert entry.priced_by_fallback


def test_parallel_charges_sum_exactly():
    """200 charges from 16 threads: balance, key quota, account quota and log count are exact."""
    setup = make_setup("http://upstream.invalid", balance="100", key_fields={"quota": Decimal("1000")},
                       account_fields={"quota_limit": Decimal("1000"), "quota_daily_limit": Decimal("1000")})
    requests = [request_for(setup, 10_000) for _ in range(200)]  # $0.01 each

    def run(request):
        from django.db import close_old_connections

        try:
            return charge(request)
        finally:
            close_old_connections()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(run, requests))
    assert all(results)
    setup.refresh()
    assert UsageLog.objects.count() == 200
    assert setup.user.balance == Decimal("98")
    assert setup.key.quota_used == Decimal("2")
    assert setup.account.quota_used == Decimal("2") and setup.account.quota_daily_used == Decimal("2")
