"""What a request costs through the live gateway: prices by TTL tier, multipliers, key and account
quotas with their limits, and exact sums under 200 parallel requests."""

import asyncio
from decimal import Decimal

import anthropic
import httpx
import pytest

from apikeys.models import ApiKey
from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.anthropic import Reply, message, usage
from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)
HAIKU = "claude-haiku-4-5"  # $1 / MTok input: 100,000 input tokens = $0.10


def call(setup, url, model=HAIKU):
    response = httpx.post(url + "/v1/messages", headers={"x-api-key": setup.raw_key}, timeout=30,
                          json={"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    return response


def reply_usage(fake, model=HAIKU, **tokens):
    fake.reply(Reply(body=message(model=model, usage_=usage(output=0, **tokens))))


def test_group_multiplier_charges_key_and_balance_s7_9(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, balance="10", group_rate="2.0", key_fields={"quota": Decimal("5")})
    reply_usage(anthropic_fake, input=100_000)
    assert call(setup, gateway_url).status_code == 200
    drain_sync()
    setup.refresh()
    log = UsageLog.objects.get()
    assert log.total_cost == Decimal("0.1") and log.actual_cost == Decimal("0.2")
    assert setup.key.quota_used == Decimal("0.2")
    assert setup.user.balance == Decimal("9.8")


def test_account_multiplier_charges_account_quota_s3_7(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, group_rate="3",
                       account_fields={"rate_multiplier": Decimal("1.5"), "quota_limit": Decimal("50")})
    reply_usage(anthropic_fake, input=400_000)
    assert call(setup, gateway_url).status_code == 200
    drain_sync()
    setup.refresh()
    assert setup.account.quota_used == Decimal("0.6")
    assert UsageLog.objects.get().account_rate_multiplier == Decimal("1.5")


def test_key_quota_crossing_request_is_served_then_429_s7_2(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, key_fields={"quota": Decimal("5"), "quota_used": Decimal("4.9")})
    reply_usage(anthropic_fake, input=300_000)
    assert call(setup, gateway_url).status_code == 200
    drain_sync()
    setup.refresh()
    assert setup.key.quota_used == Decimal("5.2")
    assert setup.key.status == ApiKey.Status.QUOTA_EXHAUSTED
    response = call(setup, gateway_url)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "API_KEY_QUOTA_EXHAUSTED"
    assert response.json()["error"]["message"] == "API key 额度已用完"


def test_account_total_quota_overshoot_then_no_account_s4_5(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url,
                       account_fields={"quota_limit": Decimal("100"), "quota_used": Decimal("99.5")})
    reply_usage(anthropic_fake, input=1_000_000)
    assert call(setup, gateway_url).status_code == 200
    drain_sync()
    setup.refresh()
    assert setup.account.quota_used == Decimal("100.5")
    response = call(setup, gateway_url)
    assert response.status_code == 503
    assert response.json()["type"] == "error"
    assert len(anthropic_fake.requests) == 1


def test_daily_account_quota_blocks_after_limit_s4_2(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, account_fields={"quota_daily_limit": Decimal("10")})
    for tokens in (4_000_000, 3_000_000, 3_000_000):
        reply_usage(anthropic_fake, input=tokens)
        assert call(setup, gateway_url).status_code == 200
        drain_sync()
    setup.refresh()
    assert setup.account.quota_daily_used == Decimal("10")
    assert call(setup, gateway_url).status_code == 503
    # S4 4: 24h01m later the period is over; the account is selectable again without any reset.
    from datetime import timedelta

    from accounts.models import Account
    from gateway import scheduler

    Account.objects.filter(pk=setup.account.pk).update(
        quota_daily_start=setup.account.quota_daily_start - timedelta(hours=24, minutes=1))
    scheduler.invalidate()
    reply_usage(anthropic_fake, input=2_000_000)
    assert call(setup, gateway_url).status_code == 200
    drain_sync()
    setup.refresh()
    assert setup.account.quota_daily_used == Decimal("2") and setup.account.quota_used == Decimal("12")


# --- S5 on JSON answers -------------------------------------------------------------------------------


def ttl_setup(fake, override, account_type="oauth"):
    return make_setup(fake.url, account_type=account_type, account_fields={"cache_ttl_override": override})


def test_json_target_5m_rewrites_body_and_bills_5m_s5_2(anthropic_fake, gateway_url):
    setup = ttl_setup(anthropic_fake, "5m")
    reply_usage(anthropic_fake, model="claude-sonnet-4-5", input=0, cache_5m=0, cache_1h=800)
    body = call(setup, gateway_url, model="claude-sonnet-4-5").json()
    assert body["usage"]["cache_creation"] == {"ephemeral_5m_input_tokens": 800, "ephemeral_1h_input_tokens": 0}
    assert body["usage"]["cache_creation_input_tokens"] == 800
    drain_sync()
    log = UsageLog.objects.get()
    assert (log.cache_creation_5m_tokens, log.cache_creation_1h_tokens) == (800, 0)
    assert log.cache_creation_cost == Decimal("0.003")  # 800 × $3.75/MTok
    assert log.cache_ttl_overridden


def test_json_aggregate_only_target_1h_gains_nested_and_bills_1h_s5_3(anthropic_fake, gateway_url):
    setup = ttl_setup(anthropic_fake, "1h")
    reply_usage(anthropic_fake, model="claude-sonnet-4-5", input=0, cache_creation=500)
    body = call(setup, gateway_url, model="claude-sonnet-4-5").json()
    assert body["usage"]["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 500}
    drain_sync()
    log = UsageLog.objects.get()
    assert log.cache_creation_1h_tokens == 500 and log.cache_creation_cost == Decimal("0.003")  # × $6/MTok


def test_json_aggregate_only_target_5m_body_unchanged_s5_4(anthropic_fake, gateway_url):
    setup = ttl_setup(anthropic_fake, "5m")
    upstream = message(model="claude-sonnet-4-5", usage_=usage(input=0, output=0, cache_creation=500))
    anthropic_fake.reply(Reply(body=upstream))
    response = call(setup, gateway_url, model="claude-sonnet-4-5")
    assert response.json() == upstream
    drain_sync()
    log = UsageLog.objects.get()
    assert log.cache_creation_5m_tokens == 500 and log.cache_ttl_overridden


def test_json_apikey_account_never_overrides_s5_7(anthropic_fake, gateway_url):
    setup = ttl_setup(anthropic_fake, "1h", account_type="apikey")
    upstream = message(model="claude-sonnet-4-5", usage_=usage(cache_5m=100))
    anthropic_fake.reply(Reply(body=upstream))
    assert call(setup, gateway_url, model="claude-sonnet-4-5").json() == upstream
    drain_sync()
    assert not UsageLog.objects.get().cache_ttl_overridden


def test_target_1h_costs_more_than_5m_s5_9(anthropic_fake, gateway_url):
    costs = {}
    for target in ("5m", "1h"):
        setup = ttl_setup(anthropic_fake, target)
        reply_usage(anthropic_fake, model="claude-sonnet-4-5", input=0, cache_5m=1_000_000)
        assert call(setup, gateway_url, model="claude-sonnet-4-5").status_code == 200
        drain_sync()
        costs[target] = UsageLog.objects.get(api_key=setup.key).cache_creation_cost
    assert costs == {"5m": Decimal("3.75"), "1h": Decimal("6")}


# --- concurrency ---------------------------------------------------------------------------------------


def test_200_parallel_requests_sum_exactly(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, balance="100", key_fields={"quota": Decimal("100")},
                       account_fields={"quota_limit": Decimal("100")})
    # Every default reply of the fake: 10 input + 5 output tokens of haiku 4.5 = $0.000035.
    client = anthropic.AsyncAnthropic(api_key=setup.raw_key, base_url=gateway_url, max_retries=0,
                                      http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=200)))

    async def burst():
        async def one(index):
            stream = index % 2 == 1
            kwargs = {"model": HAIKU, "max_tokens": 5, "messages": [{"role": "user", "content": f"n{index}"}]}
            if stream:
                async with client.messages.stream(**kwargs) as s:
                    return await s.get_final_message()
            return await client.messages.create(**kwargs)

        return await asyncio.gather(*(one(i) for i in range(200)))

    replies = asyncio.run(burst())
    assert len(replies) == 200
    drain_sync()
    setup.refresh()
    per_request = Decimal("0.000035")
    assert UsageLog.objects.filter(api_key=setup.key).count() == 200
    assert setup.user.balance == Decimal("100") - 200 * per_request
    assert setup.key.quota_used == 200 * per_request
    assert setup.account.quota_used == 200 * per_request


def test_subscription_group_charges_windows_with_list_cost(anthropic_fake, gateway_url):
    from datetime import timedelta

    from django.utils import timezone

    from users.models import Subscription

    setup = make_setup(anthropic_fake.url, balance="0", group_rate="2",
                       group_fields={"subscription_type": "subscription", "daily_limit_usd": Decimal("0.15")})
    sub = Subscription.objects.create(user=setup.user, group=setup.group,
                                      expires_at=timezone.now() + timedelta(days=30))
    reply_usage(anthropic_fake, input=100_000)
    assert call(setup, gateway_url).status_code == 200
    drain_sync()
    sub.refresh_from_db()
    setup.refresh()
    assert sub.daily_usage == Decimal("0.1")  # list cost, not multiplied
    assert setup.user.balance == 0
    log = UsageLog.objects.get()
    assert log.billing_type == UsageLog.BillingType.SUBSCRIPTION and log.subscription_id == sub.pk
    reply_usage(anthropic_fake, input=100_000)
    assert call(setup, gateway_url).status_code == 200  # 0.1 < 0.15: served, overshoots
    drain_sync()
    response = call(setup, gateway_url)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "USAGE_LIMIT_EXCEEDED"
