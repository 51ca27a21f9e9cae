"""OAuth token refresh against a fake token endpoint: on schedule, at request time, one at a time."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account
from accounts.oauth import TokenRefreshError, ensure_fresh_token, refresh_account_token
from accounts.tasks import refresh_expiring_tokens
from tests.scheduling.conftest import orm


def oauth_account(expires_in=timedelta(minutes=5), **fields):
    fields.setdefault("name", "oauth")
    return Account.objects.create(
        type="oauth", access_token="old-access", refresh_token="old-refresh",
        token_expires_at=timezone.now() + expires_in if expires_in is not None else None, **fields,
    )


@pytest.mark.django_db
def test_refresh_posts_the_grant_and_stores_the_new_tokens(fake_oauth, settings):
    account = oauth_account()
    refresh_account_token(account)
    assert fake_oauth.requests == [{
        "grant_type": "refresh_token", "refresh_token": "old-refresh", "client_id": settings.CLAUDE_OAUTH_CLIENT_ID,
    }]
    stored = Account.objects.get(pk=account.pk)
    assert stored.access_token == account.access_token == "sk-ant-oat01-new-1"
    assert stored.refresh_token == "sk-ant-ort01-new-1"
    assert timedelta(hours=7, minutes=59) < stored.token_expires_at - timezone.now() <= timedelta(hours=8)


@pytest.mark.django_db
def test_a_refused_refresh_token_puts_the_account_in_error(fake_oauth):
    account = oauth_account()
    fake_oauth.answer(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
    with pytest.raises(TokenRefreshError):
        refresh_account_token(account, attempts=3)
    assert len(fake_oauth.requests) == 1  # never retried
    stored = Account.objects.get(pk=account.pk)
    assert stored.status == Account.Status.ERROR
    assert "invalid_grant" in stored.error_message
    assert stored.access_token == "old-access"


@pytest.mark.django_db
def test_transient_failures_retry_then_pause_the_account(fake_oauth, settings):
    settings.TOKEN_REFRESH_FAILURE_COOLDOWN_MINUTES = 10
    account = oauth_account()
    fake_oauth.answer(503, {"error": "overloaded"}, times=3)
    with pytest.raises(TokenRefreshError):
        refresh_account_token(account, attempts=3)
    assert len(fake_oauth.requests) == 3
    stored = Account.objects.get(pk=account.pk)
    assert stored.status == Account.Status.ACTIVE
    assert stored.unschedulable_reason() == "temporarily unschedulable"
    assert stored.temp_unschedulable_reason.startswith("Token refresh failed")
    # The next successful refresh lifts that pause.
    refresh_account_token(stored)
    assert Account.objects.get(pk=account.pk).unschedulable_reason() is None


@pytest.mark.django_db
def test_transient_failure_then_success_within_the_retries(fake_oauth):
    account = oauth_account()
    fake_oauth.answer(500, {}, times=1)
    refresh_account_token(account, attempts=3)
    assert len(fake_oauth.requests) == 2
    assert Account.objects.get(pk=account.pk).access_token.startswith("sk-ant-oat01-new-")


@pytest.mark.django_db
def test_unreachable_endpoint_is_transient(settings):
    settings.CLAUDE_OAUTH_TOKEN_URL = "http://127.0.0.1:9/v1/oauth/token"
    account = oauth_account()
    with pytest.raises(TokenRefreshError) as error:
        refresh_account_token(account)
    assert error.value.retryable
    assert Account.objects.get(pk=account.pk).status == Account.Status.ACTIVE


@pytest.mark.django_db
def test_periodic_task_refreshes_only_expiring_oauth_accounts(fake_oauth, settings):
    settings.TOKEN_REFRESH_BEFORE_EXPIRY = 1800
    due = oauth_account(name="due", expires_in=timedelta(minutes=10))
    expired = oauth_account(name="expired", expires_in=timedelta(minutes=-10))
    later = oauth_account(name="later", expires_in=timedelta(hours=5))
    unknown = oauth_account(name="unknown", expires_in=None)
    setup = Account.objects.create(name="setup", type="setup-token", access_token="t", refresh_token="r",
                                   token_expires_at=timezone.now() + timedelta(minutes=1))
    disabled = oauth_account(name="disabled", status=Account.Status.DISABLED)
    assert refresh_expiring_tokens() == 2
    assert sorted(r["refresh_token"] for r in fake_oauth.requests) == ["old-refresh", "old-refresh"]
    tokens = dict(Account.objects.values_list("name", "access_token"))
    assert tokens["due"].startswith("sk-ant-oat01-new-") and tokens["expired"].startswith("sk-ant-oat01-new-")
    for name in ("later", "unknown", "disabled"):
        assert tokens[name] == "old-access"
    assert tokens["setup"] == "t"
    assert refresh_expiring_tokens() == 0  # now fresh
    del due, expired, later, unknown, setup, disabled


def test_periodic_task_is_registered(settings):
    from config.background import PERIODIC_TASKS

    assert (settings.TOKEN_REFRESH_INTERVAL, "accounts.tasks.refresh_expiring_tokens") in PERIODIC_TASKS


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_account_call_the_endpoint_once(fake_oauth):
    fake_oauth.delay = 0.3
    account = oauth_account()
    errors = []

    def refresh():
        try:
            refresh_account_token(Account.objects.get(pk=account.pk), within_seconds=1800)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(fake_oauth.requests) == 1


@pytest.mark.django_db(transaction=True)
async def test_request_time_refresh_of_an_expiring_token(fake_oauth, settings):
    settings.TOKEN_REFRESH_AT_REQUEST_SKEW = 180
    soon = await orm(oauth_account, expires_in=timedelta(seconds=60))
    assert (await ensure_fresh_token(soon)) is soon
    assert soon.access_token.startswith("sk-ant-oat01-new-")
    later = await orm(oauth_account, name="later", expires_in=timedelta(hours=1))
    await ensure_fresh_token(later)
    assert later.access_token == "old-access"
    assert len(fake_oauth.requests) == 1
    apikey = await orm(Account.objects.create, name="k", type="apikey", api_key="k")
    assert (await ensure_fresh_token(apikey)) is apikey


@pytest.mark.django_db(transaction=True)
async def test_request_time_refresh_failure_raises(fake_oauth):
    account = await orm(oauth_account, expires_in=timedelta(seconds=-5))
    fake_oauth.answer(401, {"error": "invalid_client"})
    with pytest.raises(TokenRefreshError):
        await ensure_fresh_token(account)
    assert account.status == Account.Status.ERROR


@pytest.mark.django_db(transaction=True)
async def test_the_scheduler_hands_out_oauth_accounts_with_a_fresh_token(fake_oauth, make_group, make_account):
    from gateway.scheduler import SelectionRequest, select_account

    group = await make_group()
    account = await make_account(group, type="oauth", access_token="old", refresh_token="r",
                                 token_expires_at=timezone.now() + timedelta(seconds=30))
    req = SelectionRequest(group_id=group.pk, platform="anthropic", model="m", user_id=1, api_key_id=1)
    lease = await select_account(req)
    assert lease.account.pk == account.pk and lease.account.access_token == "sk-ant-oat01-new-1"
    await lease.release()
    lease = await select_account(req)  # fresh now: no second refresh
    assert lease.account.access_token == "sk-ant-oat01-new-1" and len(fake_oauth.requests) == 1
    await lease.release()


@pytest.mark.django_db(transaction=True)
async def test_an_oauth_account_whose_refresh_fails_is_skipped(fake_oauth, make_group, make_account):
    from core.store import get_store
    from gateway import slots
    from gateway.scheduler import SelectionRequest, select_account

    group = await make_group()
    broken = await make_account(group, priority=1, type="oauth", access_token="old", refresh_token="r",
                                token_expires_at=timezone.now() - timedelta(minutes=1))
    spare = await make_account(group, priority=2)
    fake_oauth.answer(400, {"error": "invalid_grant"})
    req = SelectionRequest(group_id=group.pk, platform="anthropic", model="m", user_id=1, api_key_id=1)
    lease = await select_account(req)
    assert lease.account.pk == spare.pk
    await lease.release()
    assert (await orm(Account.objects.get, pk=broken.pk)).status == Account.Status.ERROR
    assert await get_store().count(slots.account_key(broken.pk)) == 0
