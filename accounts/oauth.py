"""OAuth access-token refresh for Claude OAuth accounts (spec §2.13, §6).

Setup-token accounts carry a one-year token and are never refreshed. A refresh POSTs
{grant_type: refresh_token, refresh_token, client_id} to settings.CLAUDE_OAUTH_TOKEN_URL and stores the
new access token, refresh token and expiry. Only one refresh per account runs at a time anywhere (a
Redis SET NX lock in production, a thread lock embedded); whoever waits for the lock re-reads the
account and uses the token the winner stored.

Failures: a refusal that can never succeed (invalid_grant, invalid_client, unauthorized_client,
access_denied) puts the account in error; anything else (network, 5xx, 429) is retried with backoff
and then pauses the account for settings.TOKEN_REFRESH_FAILURE_COOLDOWN_MINUTES.

Callers: the periodic task (accounts.tasks), the relay before using an OAuth account
(`ensure_fresh_token`) and the failover rules after an upstream 401 (`refresh_after_401`).
"""

import contextlib
import logging
import time
from datetime import timedelta

import requests
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from core.store import get_store

log = logging.getLogger(__name__)

NON_RETRYABLE = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "access_denied"})
LOCK_TTL = 30  # seconds; longer than one token call with its timeout
REQUEST_TIMEOUT = 20
# Temporary pauses this module set itself, lifted by the next successful refresh.
TOKEN_PAUSE_PREFIXES = ("OAuth 401", "Token refresh failed")


class TokenRefreshError(Exception):
    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def needs_refresh(account, within_seconds: float, now=None) -> bool:
    """An OAuth account with a refresh token whose access token expires within the window.

    An unknown expiry is trusted (the token was entered by hand); a 401 from upstream expires it.
    """
    if account.type != "oauth" or not account.refresh_token or account.token_expires_at is None:
        return False
    return account.token_expires_at - (now or timezone.now()) <= timedelta(seconds=within_seconds)


# --- the one-refresh-per-account lock ------------------------------------------------------------------
@contextlib.contextmanager
def refresh_lock(account_id: int):
    """Yields True when this caller holds the lock, False when another refresh ran meanwhile and the
    caller should use what it stored (the shared store's lock: across processes in production)."""
    with get_store().lock(f"oauth:refresh_lock:claude:account:{account_id}", LOCK_TTL) as held:
        yield held


# --- the token call --------------------------------------------------------------------------------------
def _call_token_endpoint(account) -> dict:
    proxies = None
    if account.proxy_id and account.proxy and account.proxy.is_active:
        proxies = {"http": account.proxy.url, "https": account.proxy.url}
    payload = {
        "grant_type": "refresh_token",
        "refresh_token": account.refresh_token,
        "client_id": settings.CLAUDE_OAUTH_CLIENT_ID,
    }
    try:
        response = requests.post(
            settings.CLAUDE_OAUTH_TOKEN_URL, json=payload, timeout=REQUEST_TIMEOUT, proxies=proxies,
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise TokenRefreshError(f"token endpoint unreachable: {exc.__class__.__name__}", retryable=True)
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if response.status_code >= 400:
        code = str(data.get("error") or f"HTTP {response.status_code}")
        description = str(data.get("error_description") or "")[:300]
        message = f"{code}: {description}" if description else code
        raise TokenRefreshError(message, retryable=code not in NON_RETRYABLE)
    if not data.get("access_token"):
        raise TokenRefreshError("token endpoint answered without access_token", retryable=True)
    return data


def _store(account, data: dict) -> None:
    fields = {"access_token": data["access_token"]}
    if data.get("refresh_token"):
        fields["refresh_token"] = data["refresh_token"]
    try:
        expires_in = int(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    fields["token_expires_at"] = timezone.now() + timedelta(seconds=expires_in) if expires_in > 0 else None
    if account.temp_unschedulable_reason.startswith(TOKEN_PAUSE_PREFIXES):
        fields.update(temp_unschedulable_until=None, temp_unschedulable_reason="")
    account.set_state(**fields)


_TOKEN_FIELDS = ("access_token", "refresh_token", "token_expires_at", "status", "error_message",
                 "temp_unschedulable_until", "temp_unschedulable_reason")


def _copy_token(source, target) -> None:
    if source is not target:
        for name in _TOKEN_FIELDS:
            setattr(target, name, getattr(source, name))


def refresh_account_token(account, *, attempts: int = 1, within_seconds: float | None = None):
    """Refresh the account's access token now (or, with `within_seconds`, only if it still expires
    within that window once the lock is held). Returns the account with its new token; the passed
    object is updated too. Raises TokenRefreshError after marking the account."""
    from accounts.models import Account

    with refresh_lock(account.pk) as holder:
        fresh = Account.objects.select_related("proxy").get(pk=account.pk)
        if not holder or (within_seconds is not None and not needs_refresh(fresh, within_seconds)):
            _copy_token(fresh, account)  # another worker refreshed it meanwhile
            return account
        if not fresh.refresh_token:
            raise TokenRefreshError("account has no refresh token", retryable=False)
        error = None
        for attempt in range(1, max(attempts, 1) + 1):
            try:
                data = _call_token_endpoint(fresh)
            except TokenRefreshError as exc:
                error = exc
                if not exc.retryable:
                    fresh.mark_error(f"Token refresh failed: {exc}")
                    _copy_token(fresh, account)
                    raise
                if attempt < attempts:
                    time.sleep(settings.TOKEN_REFRESH_RETRY_BACKOFF * 2 ** (attempt - 1))
                continue
            _store(fresh, data)
            _copy_token(fresh, account)
            log.info("refreshed the OAuth token of account %s", account.pk)
            return account
        fresh.mark_temp_unschedulable(settings.TOKEN_REFRESH_FAILURE_COOLDOWN_MINUTES, f"Token refresh failed: {error}")
        _copy_token(fresh, account)
        raise error


def _refresh_in_worker_thread(account, **kwargs):
    # A thread of its own (not the event loop's shared sync thread, which the token call would block):
    # give its database connection back when done.
    try:
        return refresh_account_token(account, **kwargs)
    finally:
        close_old_connections()


async def ensure_fresh_token(account):
    """Before using an account: refresh an OAuth token that expires within
    settings.TOKEN_REFRESH_AT_REQUEST_SKEW seconds. Returns the account (same object, new token).
    Raises TokenRefreshError when the refresh failed (the account is then marked; use another one)."""
    if not needs_refresh(account, settings.TOKEN_REFRESH_AT_REQUEST_SKEW):
        return account
    return await sync_to_async(_refresh_in_worker_thread, thread_sensitive=False)(
        account, within_seconds=settings.TOKEN_REFRESH_AT_REQUEST_SKEW
    )


async def refresh_after_401(account_id: int) -> bool:
    """Upstream refused the token: refresh it once. A success lifts the 401 pause at once."""
    from accounts.models import Account

    def run():
        try:
            account = Account.objects.select_related("proxy").filter(pk=account_id, type="oauth").first()
            if account is None or not account.refresh_token:
                return False
            refresh_account_token(account)
            return True
        except TokenRefreshError as exc:
            log.warning("token refresh after 401 failed for account %s: %s", account_id, exc)
            return False
        finally:
            close_old_connections()

    return await sync_to_async(run, thread_sensitive=False)()
