"""Upstream error → decision and account state, for each status, incl. pool mode (spec §2.12, S3)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Account
from gateway.failover import handle_upstream_error, pool_retries_exhausted
from gateway.scheduler import SelectionRequest, select_account
from gateway.upstreams.anthropic import anthropic_reset
from gateway.upstreams.base import parse_reset
from tests.scheduling.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)

BODY = b'{"type":"error","error":{"type":"x","message":"upstream says no"}}'


async def fresh(account):
    return await orm(Account.objects.get, pk=account.pk)


def assert_untouched(account):
    assert account.status == Account.Status.ACTIVE
    assert account.rate_limit_reset_at is None and account.overload_until is None
    assert account.temp_unschedulable_until is None


async def test_429_with_unified_reset_marks_until_then(make_account):
    account = await make_account()
    reset = int((timezone.now() + timedelta(hours=2)).timestamp())
    decision = await handle_upstream_error(account, 429, {"anthropic-ratelimit-unified-reset": str(reset)}, BODY)
    assert decision.switch_account and not decision.retry_same
    stored = await fresh(account)
    assert stored.rate_limit_reset_at == datetime.fromtimestamp(reset, tz=UTC)
    assert stored.rate_limited_at is not None
    assert stored.unschedulable_reason() == "rate limited"


def test_reset_header_formats_and_window_choice():
    assert parse_reset("1767225600") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_reset("1767225600000") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_reset("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_reset("2026-01-01T08:00:00+08:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_reset("soon") is None and parse_reset("") is None
    five, seven = "1767225600", "1767744000"
    both = {"anthropic-ratelimit-unified-5h-reset": five, "anthropic-ratelimit-unified-7d-reset": seven}
    assert anthropic_reset(both) == parse_reset(five)  # neither marked exhausted: the sooner
    assert anthropic_reset({**both, "anthropic-ratelimit-unified-7d-surpassed-threshold": "true"}) == parse_reset(seven)
    assert anthropic_reset({**both, "anthropic-ratelimit-unified-5h-utilization": "1.0"}) == parse_reset(five)
    assert anthropic_reset({"anthropic-ratelimit-unified-7d-reset": seven}) == parse_reset(seven)
    assert anthropic_reset({"Anthropic-Ratelimit-Unified-Reset": five}) == parse_reset(five)
    assert anthropic_reset({}) is None


async def test_anthropic_429_without_reset_is_not_marked_but_switches(make_account):
    account = await make_account()
    decision = await handle_upstream_error(account, 429, {}, BODY)
    assert decision.switch_account
    assert_untouched(await fresh(account))


async def test_other_platforms_429_default_to_a_short_limit(make_account):
    account = await make_account(platform="openai")
    decision = await handle_upstream_error(account, 429, {"retry-after": "120"}, BODY)
    assert decision.switch_account
    stored = await fresh(account)
    assert timedelta(seconds=100) < stored.rate_limit_reset_at - timezone.now() <= timedelta(seconds=120)
    gemini = await make_account(platform="gemini")
    await handle_upstream_error(gemini, 429, {}, BODY)
    stored = await fresh(gemini)
    assert timedelta(minutes=4) < stored.rate_limit_reset_at - timezone.now() <= timedelta(minutes=5)


async def test_529_overloads_for_the_cooldown(make_account, settings):
    settings.OVERLOAD_COOLDOWN_MINUTES = 7
    account = await make_account()
    assert (await handle_upstream_error(account, 529, {}, BODY)).switch_account
    stored = await fresh(account)
    assert timedelta(minutes=6) < stored.overload_until - timezone.now() <= timedelta(minutes=7)
    assert stored.unschedulable_reason() == "overloaded"


@pytest.mark.parametrize("account_type", ["apikey", "setup-token", "bedrock"])
async def test_401_on_non_oauth_is_an_error(make_account, account_type):
    account = await make_account(type=account_type)
    assert (await handle_upstream_error(account, 401, {}, BODY)).switch_account
    stored = await fresh(account)
    assert stored.status == Account.Status.ERROR
    assert stored.error_message.startswith("Authentication failed (401): ")
    assert "upstream says no" in stored.error_message


async def test_402_and_403_are_errors(make_account):
    paying, forbidden = await make_account(), await make_account()
    assert (await handle_upstream_error(paying, 402, {}, BODY)).switch_account
    assert (await handle_upstream_error(forbidden, 403, {}, BODY)).switch_account
    assert (await fresh(paying)).error_message == "Payment required"
    stored = await fresh(forbidden)
    assert stored.status == Account.Status.ERROR and stored.error_message.startswith("Access forbidden (403): ")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_switches_without_marking(make_account, status):
    account = await make_account()
    decision = await handle_upstream_error(account, status, {}, BODY)
    assert decision.switch_account and not decision.retry_same
    assert_untouched(await fresh(account))


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_client_errors_are_relayed_as_they_are(make_account, status):
    account = await make_account()
    decision = await handle_upstream_error(account, status, {}, BODY)
    assert not decision.switch_account and not decision.retry_same
    assert_untouched(await fresh(account))


async def test_disabled_organization_400_stops_the_account(make_account):
    account = await make_account()
    body = b'{"type":"error","error":{"message":"This organization has been disabled."}}'
    assert (await handle_upstream_error(account, 400, {}, body)).switch_account
    assert (await fresh(account)).status == Account.Status.ERROR


@pytest.mark.parametrize("account_type", ["apikey", "bedrock"])
@pytest.mark.parametrize("status", [401, 403, 429])
async def test_pool_mode_retries_the_same_account_and_never_marks(make_account, account_type, status):
    account = await make_account(type=account_type, pool_mode=True)
    headers = {"anthropic-ratelimit-unified-reset": str(int(timezone.now().timestamp()) + 3600)}
    decision = await handle_upstream_error(account, status, headers, BODY)
    assert decision.retry_same and decision.switch_account
    assert_untouched(await fresh(account))


async def test_pool_mode_other_failures_switch_without_marking(make_account):
    account = await make_account(type="bedrock", pool_mode=True)
    decision = await handle_upstream_error(account, 529, {}, BODY)
    assert decision.switch_account and not decision.retry_same
    assert_untouched(await fresh(account))
    assert not (await handle_upstream_error(account, 400, {}, BODY)).switch_account


async def test_pool_mode_only_for_apikey_and_bedrock(make_account):
    account = await make_account(type="setup-token", pool_mode=True)
    decision = await handle_upstream_error(account, 403, {}, BODY)
    assert not decision.retry_same
    assert (await fresh(account)).status == Account.Status.ERROR


async def test_pool_mode_exhausted_pauses_the_account(make_account):
    account = await make_account(type="apikey", pool_mode=True, pool_mode_retry_count=3)
    await pool_retries_exhausted(account, 429)
    stored = await fresh(account)
    assert stored.unschedulable_reason() == "temporarily unschedulable"
    assert "429" in stored.temp_unschedulable_reason


async def test_oauth_401_pauses_and_refreshes_the_token_once(make_account, fake_oauth):
    account = await make_account(
        type="oauth", access_token="old-access", refresh_token="old-refresh",
        token_expires_at=timezone.now() + timedelta(hours=5),
    )
    decision = await handle_upstream_error(account, 401, {}, BODY)
    assert decision.switch_account
    for _ in range(100):  # the refresh runs in the background
        stored = await fresh(account)
        if stored.access_token != "old-access":
            break
        await asyncio.sleep(0.05)
    assert len(fake_oauth.requests) == 1
    assert fake_oauth.requests[0]["refresh_token"] == "old-refresh"
    assert stored.access_token.startswith("sk-ant-oat01-new-")
    assert stored.token_expires_at > timezone.now() + timedelta(hours=7)
    assert stored.unschedulable_reason() is None  # the new token lifted the 401 pause


async def test_oauth_401_with_a_failing_refresh_stays_paused(make_account, fake_oauth, settings):
    settings.OAUTH_401_COOLDOWN_MINUTES = 10
    account = await make_account(type="oauth", access_token="a", refresh_token="r",
                                 token_expires_at=timezone.now() + timedelta(hours=5))
    fake_oauth.answer(400, {"error": "invalid_grant", "error_description": "Refresh token revoked"})
    await handle_upstream_error(account, 401, {}, BODY)
    for _ in range(100):
        stored = await fresh(account)
        if stored.status == Account.Status.ERROR:
            break
        await asyncio.sleep(0.05)
    assert stored.status == Account.Status.ERROR
    assert "invalid_grant" in stored.error_message
    assert stored.token_expires_at <= timezone.now()


async def test_a_marked_account_is_skipped_by_the_next_selection(make_group, make_account):
    group = await make_group()
    first = await make_account(group, priority=1)
    second = await make_account(group, priority=2)
    req = SelectionRequest(group_id=group.pk, platform="anthropic", model="m", user_id=1, api_key_id=1)
    lease = await select_account(req)
    assert lease.account.pk == first.pk
    await handle_upstream_error(lease.account, 529, {}, BODY)
    await lease.release()
    lease = await select_account(req)  # no exclude list: the mark alone keeps it out
    assert lease.account.pk == second.pk
    await lease.release()
