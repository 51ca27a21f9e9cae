"""Periodic account jobs (registered in config/background.py)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.oauth import TokenRefreshError, needs_refresh, refresh_account_token

log = logging.getLogger(__name__)


def refresh_expiring_tokens() -> int:
    """Refresh every active OAuth account whose token expires within settings.TOKEN_REFRESH_BEFORE_EXPIRY
    (setup-token accounts are never refreshed). Returns how many were refreshed."""
    from accounts.models import Account

    window = settings.TOKEN_REFRESH_BEFORE_EXPIRY
    due = Account.objects.filter(
        type=Account.Type.OAUTH, status=Account.Status.ACTIVE,
        token_expires_at__lte=timezone.now() + timedelta(seconds=window),
    ).select_related("proxy")
    refreshed = 0
    for account in due:
        if not needs_refresh(account, window):
            continue
        try:
            refresh_account_token(account, attempts=settings.TOKEN_REFRESH_MAX_RETRIES, within_seconds=window)
            refreshed += 1
        except TokenRefreshError as exc:
            log.warning("token refresh failed for account %s: %s", account.pk, exc)
    return refreshed
