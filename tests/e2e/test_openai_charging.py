"""What an OpenAI request costs through the live gateway, charged exactly like the Anthropic path: cached
tokens at the cached-input price, service tiers, the admin's prices, multipliers, key and account quotas,
subscriptions, and exact sums under 200 parallel requests (on SQLite and on PostgreSQL + Redis)."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from billing.models import ModelPrice, UsageLog
from billing.settlement import drain_sync
from tests.fakes.openai import Reply, chat_chunks, chat_usage, completion, response, response_events, responses_usage
from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "hi"}]



def test_multipliers_key_and_account_quota(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai", balance="10", group_rate="2",
                       key_fields={"quota": Decimal("5")},
                       account_fields={"quota_limit": Decimal("50"), "rate_multiplier": Decimal("1.5")})
    # gpt-4.1: 600k fresh × $2 + 400k cached × $0.50 + 100k × $8 per million = $1.20 + $0.20 + $0.80 = $2.20
    openai_fake.reply(Reply(body=completion(model="gpt-4.1", usage_=chat_usage(prompt=1_000_000, cached=400_000,
                                                                               completion=100_000))))
    openai_sdk(setup).chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    drain_sync()
    setup.refresh()
    log = UsageLog.objects.get()
    assert (log.input_cost, log.cache_read_cost, log.output_cost, log.cache_creation_cost) == (
        Decimal("1.2"), Decimal("0.2"), Decimal("0.8"), Decimal("0"))
    assert (log.total_cost, log.actual_cost) == (Decimal("2.2"), Decimal("4.4"))
    assert setup.user.balance == Decimal("5.6")
    assert setup.key.quota_used == Decimal("4.4") and setup.key.status == ApiKey.Status.ACTIVE
    assert setup.account.quota_used == Decimal("3.3")  # list cost × the account's multiplier
    assert not log.priced_by_fallback


@pytest.mark.parametrize(("tier", "factor"), [("default", 1), ("priority", 2), ("flex", Decimal("0.5")),
                                              ("scale", 1)])
def test_service_tier_is_recorded_and_priced(openai_fake, gateway_url, tier, factor, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai")
    usage_ = responses_usage(input=100_000, cached=20_000, output=10_000)
    openai_fake.reply(Reply(body=response(model="gpt-5", usage_=usage_, service_tier=tier)))
    openai_sdk(setup).responses.create(model="gpt-5", input="x", service_tier="auto")
    drain_sync()
    log = UsageLog.objects.get()
    assert log.service_tier == tier
    # 80k × $1.25 + 20k × $0.125 + 10k × $10 per million = $0.2025 at the standard tier
    assert log.total_cost == Decimal("0.2025") * factor


def test_a_stream_records_the_tier_of_its_answer(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai")
    openai_fake.reply(Reply(events=chat_chunks(model="gpt-5-mini", service_tier="flex",
                                               usage_=chat_usage(prompt=1_000_000, completion=0))))
    list(openai_sdk(setup).chat.completions.create(model="gpt-5-mini", messages=MESSAGES, stream=True))
    drain_sync()
    log = UsageLog.objects.get()
    assert (log.service_tier, log.total_cost) == ("flex", Decimal("0.125"))  # $0.25 per M input, halved


def test_admin_prices_override_the_shipped_ones(openai_fake, gateway_url, openai_sdk):
    ModelPrice.objects.create(model="gpt-4o-mini", input=Decimal("1"), output=Decimal("2"), cache_read=Decimal("0.5"))
    setup = make_setup(openai_fake.url, platform="openai")
    openai_fake.reply(Reply(events=response_events(model="gpt-4o-mini", usage_=responses_usage(
        input=3_000_000, cached=1_000_000, output=1_000_000))))
    list(openai_sdk(setup).responses.create(model="gpt-4o-mini", input="x", stream=True))
    drain_sync()
    log = UsageLog.objects.get()
    assert (log.input_cost, log.cache_read_cost, log.output_cost) == (Decimal("2"), Decimal("0.5"), Decimal("2"))


def test_an_unknown_model_is_served_and_flagged(openai_fake, gateway_url, openai_sdk):
    setup = make_setup(openai_fake.url, platform="openai")
    openai_sdk(setup).chat.completions.create(model="my-finetune", messages=MESSAGES)
    drain_sync()
    assert UsageLog.objects.get().priced_by_fallback


def test_subscription_windows_get_the_list_cost(openai_fake, gateway_url, openai_sdk):
    from users.models import Subscription

    setup = make_setup(openai_fake.url, platform="openai", balance="0", group_rate="3",
                       group_fields={"subscription_type": "subscription", "daily_limit_usd": Decimal("10")})
    sub = Subscription.objects.create(user=setup.user, group=setup.group, expires_at=timezone.now() + timedelta(days=9))
    openai_fake.reply(Reply(body=response(model="gpt-5-nano", usage_=responses_usage(input=2_000_000, output=0))))
    openai_sdk(setup).responses.create(model="gpt-5-nano", input="x")
    drain_sync()
    sub.refresh_from_db()
    setup.refresh()
    assert sub.daily_usage == Decimal("0.1") and setup.user.balance == 0
    assert UsageLog.objects.get().billing_type == UsageLog.BillingType.SUBSCRIPTION


def test_200_parallel_requests_sum_exactly(openai_fake, gateway_url):
    setup = make_setup(openai_fake.url, platform="openai", balance="100", key_fields={"quota": Decimal("100")},
                       account_fields={"quota_limit": Decimal("100")})
    openai_fake.default_cached = 4
    # Every default reply: 10 input tokens of which 4 cached, 5 output, gpt-4o-mini:
    # 6 × $0.15 + 4 × $0.075 + 5 × $0.60 per million = $0.0000042.
    client = openai.AsyncOpenAI(api_key=setup.raw_key, base_url=gateway_url + "/v1", max_retries=0,
                                http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=200)))

    async def one(index):
        kind, stream = index % 4, index % 2 == 1
        if kind < 2:
            result = await client.chat.completions.create(model="gpt-4o-mini", messages=[
                {"role": "user", "content": f"n{index}"}], stream=stream)
        else:
            result = await client.responses.create(model="gpt-4o-mini", input=f"n{index}", stream=stream)
        if stream:
            return [event async for event in result]
        return result

    async def burst():
        return await asyncio.gather(*(one(i) for i in range(200)))

    assert len(asyncio.run(burst())) == 200
    drain_sync()
    setup.refresh()
    per_request = Decimal("0.0000042")
    logs = UsageLog.objects.filter(api_key=setup.key)
    assert logs.count() == 200
    assert {(log.input_tokens, log.cache_read_tokens, log.output_tokens) for log in logs} == {(6, 4, 5)}
    assert setup.user.balance == Decimal("100") - 200 * per_request
    assert setup.key.quota_used == 200 * per_request
    assert setup.account.quota_used == 200 * per_request
