"""Account limits in the admin: the form's fields (empty = the default, out of range = a field error) and
the list's "limits now" column; a group's fallback refuses a cycle with a field error."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import limits
from accounts.admin_limits import limits_badges
from accounts.models import Account
from core.store import get_store
from groups.models import Group
from tests.admin.test_secrets import _account_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_account_limit_counts")]

OAUTH = {"type": "setup-token", "access_token": "sk-ant-oat01-admin-form"}



def _form_errors(response):
    return response.context["adminform"].form.errors


def test_the_form_saves_the_limits(client_admin):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(
        **OAUTH, base_rpm="12", rpm_strategy="tiered", rpm_sticky_buffer="", max_sessions="3",
        session_idle_timeout_minutes="15", window_cost_limit="20.50", window_cost_sticky_reserve="1",
    ))
    assert response.status_code == 302, _form_errors(response)
    account = Account.objects.get()
    assert (account.base_rpm, account.rpm_sticky_buffer, account.max_sessions) == (12, None, 3)
    assert (account.window_cost_limit, account.window_cost_sticky_reserve) == (Decimal("20.5"), Decimal(1))
    assert account.session_idle_timeout_minutes == 15


def test_limit_fields_left_out_take_their_defaults(client_admin):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(api_key="sk-x"))
    assert response.status_code == 302, _form_errors(response)
    account = Account.objects.get()
    assert (account.base_rpm, account.rpm_strategy, account.session_idle_timeout_minutes) == (0, "tiered", 5)
    assert account.window_cost_sticky_reserve == 10


@pytest.mark.parametrize("field, value", [
    ("base_rpm", "-1"), ("base_rpm", str(2**31)), ("max_sessions", "-3"), ("rpm_sticky_buffer", "-1"),
    ("session_idle_timeout_minutes", "0"), ("window_cost_limit", "-1"), ("window_cost_limit", "NaN"),
    ("window_cost_sticky_reserve", "-0.01"), ("rpm_strategy", "greedy"),
])
def test_out_of_range_limits_are_field_errors(client_admin, field, value):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(**OAUTH, **{field: value}))
    assert response.status_code == 200
    assert field in _form_errors(response)
    assert not Account.objects.exists()


async def _count(account, sessions, requests):
    store = get_store()
    for session in sessions:
        await store.touch_member(limits.sessions_key(account.pk), session, 0, 300)
    for _ in range(requests):
        await store.hit_minute(limits.rpm_key(account.pk), 0)


def test_the_list_shows_rpm_sessions_and_window_cost_now(client_admin, make_account):
    from asgiref.sync import async_to_sync

    account = make_account(**OAUTH, base_rpm=4, max_sessions=2, window_cost_limit=Decimal(10),
                           window_cost_used=Decimal("10.5"), window_cost_start=timezone.now() - timedelta(hours=1))
    async_to_sync(_count)(account, ["a", "b"], 4)
    html = limits_badges(account)
    assert "RPM 4/4" in html and "sessions 2/2" in html and "5h $10.50/$10.00" in html
    # RPM at its base (tiered: sticky sessions only), sessions full, the window in its sticky reserve.
    assert re.findall(r'class="sr-badge sr-(\w+)"', html) == ["warn", "warn", "warn"]
    assert "resets in" in html
    page = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "RPM 4/4" in page and "limits now" in page


def test_accounts_without_limits_show_no_limit(make_account):
    assert "no limit" in limits_badges(make_account(**OAUTH))
    assert "no limit" in limits_badges(make_account(base_rpm=5))  # API-key accounts: limits do not apply


def test_a_fallback_cycle_is_a_field_error(client_admin):
    a = Group.objects.create(name="a", claude_code_only=True)
    b = Group.objects.create(name="b", fallback_group=a)
    response = client_admin.post(reverse("admin:groups_group_change", args=[a.pk]), {
        "name": "a", "platform": "anthropic", "rate_multiplier": "1", "status": "active",
        "subscription_type": "standard", "default_validity_days": "30", "model_routing": "{}",
        "claude_code_only": "on", "fallback_group": str(b.pk),
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    assert "cycle" in str(_form_errors(response)["fallback_group"])
