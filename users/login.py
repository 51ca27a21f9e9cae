"""Logging in, wherever it happens (POST /api/v1/auth/login, /admin/login/): the one throttle rule.

Per client address (core.clientip) every attempt counts against API_LOGIN_RATE; per account the
failed attempts count against API_LOGIN_ACCOUNT_RATE, so that many addresses guessing one password
are stopped too, while a script that logs in correctly many times is not. Counters are windows that
start with their first attempt, in Django's cache (Redis in production: every process and host shares
them).
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.forms import AuthenticationForm

from core.clientip import request_ip

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> "Rate | None":
        """DRF's rate syntax, "20/min" or "100/hour"; empty = no limit."""
        if not text:
            return None
        count, _, period = text.partition("/")
        return cls(int(count), PERIODS[period.strip()[:1]])

    def count(self, key: str, add: int) -> tuple[int, int]:
        """Add `add` to the window's count (a window starts with its first attempt); returns the count
        and the seconds until the window ends."""
        now = time.time()
        if cache.add(key, 0, self.period):
            cache.set(f"{key}:since", now, self.period)
        try:
            count = cache.incr(key, add) if add else cache.get(key, 0)
        except ValueError:  # the window ended between add() and incr()
            count = add
            cache.set(key, count, self.period)
            cache.set(f"{key}:since", now, self.period)
        since = cache.get(f"{key}:since") or now
        return count, max(1, math.ceil(since + self.period - now))


def _address_key(address: str) -> str:
    return f"throttle_login_{address}"


def _account_key(email: str) -> str:
    return "throttle_login_account_" + hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]


def attempt_wait(address: str, email: str) -> int | None:
    """Count one attempt from `address` for `email`; the seconds to wait when either is over its rate."""
    waits = []
    if rate := Rate.parse(settings.API_LOGIN_RATE):
        count, left = rate.count(_address_key(address), 1)
        if count > rate.limit:
            waits.append(left)
    if rate := Rate.parse(settings.API_LOGIN_ACCOUNT_RATE):
        count, left = rate.count(_account_key(email), 0)
        if count >= rate.limit:
            waits.append(left)
    return max(waits) if waits else None


def record_failure(sender=None, credentials=None, **kwargs) -> None:
    """user_login_failed receiver (connected in UsersConfig.ready): one more failed attempt for the account."""
    if rate := Rate.parse(settings.API_LOGIN_ACCOUNT_RATE):
        credentials = credentials or {}
        rate.count(_account_key(credentials.get("email") or credentials.get("username") or ""), 1)


def too_many_attempts(seconds: int) -> str:
    return _("Too many login attempts. Try again in %(seconds)s seconds.") % {"seconds": seconds}


class AdminLoginForm(AuthenticationForm):
    """The admin's login form (UNFOLD["LOGIN"]["form"]), throttled by the rule above before authenticating."""

    def clean(self):
        if self.request is not None:
            wait = attempt_wait(request_ip(self.request), self.cleaned_data.get("username") or "")
            if wait is not None:
                raise ValidationError(too_many_attempts(wait), code="throttled")
        return super().clean()
