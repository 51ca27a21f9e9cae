"""Account limits (base RPM, sessions, window cost) and Claude-Code-only groups through the admin REST API:
set, shown with where they stand now, refused with a 400 naming the field when out of range."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from groups.models import Group
from tests.api.conftest import data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_account_limit_counts")]

OAUTH = {"name": "claude", "platform": "anthropic", "type": "setup-token", "access_token": "sk-ant-oat01-x"}



def test_limits_are_set_and_shown_with_their_state(admin_api, make_account):
    body = data(admin_api.post("/api/v1/admin/accounts", {
        **OAUTH, "base_rpm": 30, "rpm_strategy": "sticky_exempt", "max_sessions": 4,
        "session_idle_timeout_minutes": 10, "window_cost_limit": "25.5", "window_cost_sticky_reserve": 2,
    }))
    account = Account.objects.get(pk=body["id"])
    assert (account.base_rpm, account.rpm_strategy, account.max_sessions) == (30, "sticky_exempt", 4)
    assert (account.window_cost_limit, account.window_cost_sticky_reserve) == (Decimal("25.5"), Decimal(2))
    assert body["rpm_sticky_buffer"] == 6  # the default in effect: a fifth of the base
    assert (body["rpm_now"], body["sessions_now"], body["window_cost"]) == (0, 0, 0)
    assert body["window_cost_resets_at"] is None

    start = timezone.now() - timedelta(hours=1)
    Account.objects.filter(pk=account.pk).update(window_cost_used=Decimal("3.25"), window_cost_start=start)
    shown = data(admin_api.get(f"/api/v1/admin/accounts/{account.pk}"))
    assert shown["window_cost"] == 3.25
    assert shown["window_cost_resets_at"].startswith((start + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M"))


def test_sub2api_extra_carries_the_limits_and_replaces_them(admin_api, make_account):
    account = make_account(type="setup-token", access_token="sk-ant-oat01-x", base_rpm=5, max_sessions=2)
    data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"extra": {"window_cost_limit": 40}}))
    account.refresh_from_db()
    assert (account.window_cost_limit, account.base_rpm, account.max_sessions) == (40, 0, 0)


def test_limits_are_not_shown_for_apikey_accounts(admin_api, make_account):
    body = data(admin_api.get(f"/api/v1/admin/accounts/{make_account().pk}"))
    assert "base_rpm" not in body and "window_cost" not in body


@pytest.mark.parametrize("body, field", [
    ({"base_rpm": -1}, "base_rpm"),
    ({"base_rpm": 2**31}, "base_rpm"),
    ({"base_rpm": "NaN"}, "base_rpm"),
    ({"rpm_sticky_buffer": -2}, "rpm_sticky_buffer"),
    ({"rpm_strategy": "greedy"}, "rpm_strategy"),
    ({"max_sessions": -1}, "max_sessions"),
    ({"session_idle_timeout_minutes": 0}, "session_idle_timeout_minutes"),
    ({"session_idle_timeout_minutes": 1441}, "session_idle_timeout_minutes"),
    ({"window_cost_limit": -5}, "window_cost_limit"),
    ({"window_cost_limit": "NaN"}, "window_cost_limit"),
    ({"window_cost_limit": "Infinity"}, "window_cost_limit"),
    ({"extra": {"window_cost_sticky_reserve": -1}}, "window_cost_sticky_reserve"),
])
def test_out_of_range_limits_are_400_naming_the_field(admin_api, body, field):
    status, answer = admin_api.post("/api/v1/admin/accounts", {**OAUTH, **body})
    assert status == 400, answer
    assert answer["code"] == 400 and field in answer["message"]
    assert not Account.objects.exists()


def test_group_fallback_must_be_the_same_platform_and_no_cycle(admin_api):
    a = Group.objects.create(name="a", claude_code_only=True)
    b = Group.objects.create(name="b", fallback_group=a)
    openai = Group.objects.create(name="o", platform="openai")
    status, answer = admin_api.put(f"/api/v1/admin/groups/{a.pk}", {"fallback_group_id": b.pk})
    assert status == 400 and "fallback_group_id" in answer["message"] and "cycle" in answer["message"]
    status, answer = admin_api.put(f"/api/v1/admin/groups/{a.pk}", {"fallback_group_id": openai.pk})
    assert status == 400 and "fallback_group_id" in answer["message"] and "platform" in answer["message"]
    c = data(admin_api.post("/api/v1/admin/groups", {"name": "c", "claude_code_only": True,
                                                     "fallback_group_id": b.pk}))
    assert (c["claude_code_only"], c["fallback_group_id"]) == (True, b.pk)
