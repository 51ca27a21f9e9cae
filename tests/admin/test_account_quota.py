"""Account list quota badges/bars (S4, S1), state column, reset/clear actions, quota form."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.admin import account_state, quota_badges, quota_bars
from tests.admin.test_secrets import _account_post

pytestmark = pytest.mark.django_db
D = Decimal


def _badge_classes(html):
    return re.findall(r'class="sr-badge sr-(\w+)"', html)


@pytest.mark.parametrize(("used", "css"), [("7.99", "ok"), ("8", "warn"), ("9.99", "warn"), ("10", "over"),
                                           ("12", "over")])
def test_total_badge_colour_by_threshold(make_account, used, css):
    account = make_account(quota_limit=D(10), quota_used=D(used))
    html = quota_badges(account)
    assert _badge_classes(html) == [css]
    assert f"$ ${D(used):.2f}/$10.00" in html
    assert ("Quota exceeded, account paused" in html) == (css == "over")


def test_daily_weekly_badges_and_bars_use_current_period(make_account):
    now = timezone.now()
    account = make_account(
        quota_daily_limit=D(10), quota_daily_used=D(9), quota_daily_start=now - timedelta(hours=2),
        quota_weekly_limit=D(50), quota_weekly_used=D(10), quota_weekly_start=now - timedelta(days=1),
    )
    html = quota_badges(account, now)
    assert "D $9.00/$10.00" in html and "W $10.00/$50.00" in html
    assert _badge_classes(html) == ["warn", "ok"]
    bars = quota_bars(account, now)
    assert 'data-level="warn"' in bars and "width:90%" in bars and "resets in" in bars


def test_s1_expired_daily_period_shows_zero_but_db_keeps_value(make_account, client_admin):
    from accounts.models import Account

    now = timezone.now()
    account = make_account(quota_daily_limit=D(10), quota_daily_used=D(11),
                           quota_daily_start=now - timedelta(hours=25))
    html = quota_badges(account, now)
    assert "D $0.00/$10.00" in html and _badge_classes(html) == ["ok"]
    assert "width:0%" in quota_bars(account, now)
    page = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "D $0.00/$10.00" in page and "D $11.00" not in page
    assert Account.objects.get(pk=account.pk).quota_daily_used == D(11)
    # Still inside the period: the stored value and red.
    account2 = make_account(quota_daily_limit=D(10), quota_daily_used=D(11),
                            quota_daily_start=now - timedelta(hours=23))
    assert "D $11.00/$10.00" in quota_badges(account2, now) and _badge_classes(quota_badges(account2, now)) == ["over"]


def test_s1_weekly_and_missing_start(make_account):
    now = timezone.now()
    lapsed = make_account(quota_weekly_limit=D(50), quota_weekly_used=D(60),
                          quota_weekly_start=now - timedelta(days=7, seconds=1))
    current = make_account(quota_weekly_limit=D(50), quota_weekly_used=D(60),
                           quota_weekly_start=now - timedelta(days=6))
    no_start = make_account(quota_daily_limit=D(10), quota_daily_used=D(5))
    assert "W $0.00/$50.00" in quota_badges(lapsed, now)
    assert "W $60.00/$50.00" in quota_badges(current, now)
    assert "D $0.00/$10.00" in quota_badges(no_start, now)


def test_total_never_zeroed_and_oauth_has_no_badges(make_account):
    total = make_account(quota_limit=D(100), quota_used=D(120))
    assert "$ $120.00/$100.00" in quota_badges(total)
    oauth = make_account(type="oauth", quota_limit=D(100), quota_used=D(120))
    assert "sr-badge" not in quota_badges(oauth)


def test_state_column_labels(make_account):
    now = timezone.now()
    assert account_state(make_account(), now) == ("Active", "ok")
    limited = make_account(rate_limited_at=now, rate_limit_reset_at=now + timedelta(minutes=5))
    assert account_state(limited, now)[0].startswith("Rate limited until ")
    overloaded = make_account(overload_until=now + timedelta(minutes=5))
    assert account_state(overloaded, now)[0].startswith("Overloaded until ")
    paused = make_account(temp_unschedulable_until=now + timedelta(minutes=5), temp_unschedulable_reason="529 burst")
    assert account_state(paused, now)[0].endswith("(529 burst)")
    errored = make_account(status="error", error_message="invalid x-api-key")
    assert account_state(errored, now) == ("Error: invalid x-api-key", "over")
    exceeded = make_account(quota_limit=D(1), quota_used=D(1))
    assert account_state(exceeded, now) == ("Quota exceeded", "over")


def test_bulk_reset_quota_needs_confirmation_then_zeroes(client_admin, make_account):
    now = timezone.now()
    account = make_account(quota_limit=D(10), quota_used=D(10), quota_daily_limit=D(5), quota_daily_used=D(4),
                           quota_daily_start=now - timedelta(hours=1))
    url = reverse("admin:accounts_account_changelist")
    first = client_admin.post(url, {"action": "reset_quota_selected", "_selected_action": [account.pk]})
    assert first.status_code == 200 and b'id="sr-confirm"' in first.content
    assert b"$10.00" in first.content and b"$4.00" in first.content
    account.refresh_from_db()
    assert account.quota_used == D(10)  # nothing happened yet
    done = client_admin.post(url, {"action": "reset_quota_selected", "_selected_action": [account.pk],
                                   "confirm": "yes"})
    assert done.status_code == 302
    account.refresh_from_db()
    assert (account.quota_used, account.quota_daily_used, account.quota_daily_start) == (0, 0, None)
    assert account.quota_limit == D(10)


def test_row_reset_quota_confirmation_flow(client_admin, make_account):
    account = make_account(quota_limit=D(10), quota_used=D(3))
    url = reverse("admin:accounts_account_reset_quota_row", args=[account.pk])
    page = client_admin.get(url)
    assert page.status_code == 200 and b"$3.00" in page.content
    account.refresh_from_db()
    assert account.quota_used == D(3)
    assert client_admin.post(url, {"confirm": "yes"}).status_code == 302
    account.refresh_from_db()
    assert account.quota_used == 0


def test_clear_rate_limit_and_clear_error_actions(client_admin, make_account):
    now = timezone.now()
    limited = make_account(rate_limited_at=now, rate_limit_reset_at=now + timedelta(hours=1),
                           overload_until=now + timedelta(hours=1))
    errored = make_account(status="error", error_message="boom")
    url = reverse("admin:accounts_account_changelist")
    client_admin.post(url, {"action": "clear_rate_limit_selected", "_selected_action": [limited.pk]})
    limited.refresh_from_db()
    assert limited.rate_limit_reset_at is None and limited.overload_until is None and limited.is_schedulable()
    row = reverse("admin:accounts_account_clear_error_row", args=[errored.pk])
    assert client_admin.get(row).status_code == 200
    errored.refresh_from_db()
    assert errored.status == "error"  # GET only asks
    assert client_admin.post(row, {"confirm": "yes"}).status_code == 302
    errored.refresh_from_db()
    assert errored.status == "active" and errored.error_message == ""


def test_quota_form_bad_timezone_is_a_field_error(client_admin):
    data = _account_post(quota_enabled="on", quota_daily_limit="10", quota_reset_timezone="Mars/Olympus")
    response = client_admin.post(reverse("admin:accounts_account_add"), data)
    assert response.status_code == 200
    assert "quota_reset_timezone" in response.context["adminform"].form.errors


def test_editing_limits_keeps_used_values_and_starts(client_admin, make_account):
    start = timezone.now() - timedelta(hours=1)
    account = make_account(name="secret-acct", quota_daily_limit=D(10), quota_daily_used=D(10),
                           quota_daily_start=start, quota_used=D(10))
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = _account_post(quota_enabled="on", quota_daily_limit="20")
    assert client_admin.post(url, data).status_code == 302
    account.refresh_from_db()
    assert account.quota_daily_limit == D(20)
    assert (account.quota_daily_used, account.quota_daily_start, account.quota_used) == (D(10), start, D(10))
    assert account.is_schedulable()


def test_quota_toggle_off_clears_limits(client_admin, make_account):
    account = make_account(name="secret-acct", quota_daily_limit=D(10), quota_limit=D(50))
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = _account_post(quota_daily_limit="10", quota_limit="50")  # quota_enabled unchecked
    assert client_admin.post(url, data).status_code == 302
    account.refresh_from_db()
    assert (account.quota_daily_limit, account.quota_limit) == (0, 0)


def test_fixed_mode_save_normalizes_window(client_admin, make_account):
    old = timezone.now() - timedelta(days=3)
    account = make_account(name="secret-acct", quota_daily_limit=D(10), quota_daily_used=D(7), quota_daily_start=old)
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = _account_post(quota_enabled="on", quota_daily_limit="10", quota_daily_reset_mode="fixed",
                         quota_daily_reset_hour="0")
    assert client_admin.post(url, data).status_code == 302
    account.refresh_from_db()
    assert account.quota_daily_used == 0 and account.quota_daily_start > old


def test_bedrock_requires_mode_credentials(client_admin):
    from accounts.models import Account

    data = _account_post(type="bedrock", bedrock_auth_mode="apikey", aws_access_key_id="")
    response = client_admin.post(reverse("admin:accounts_account_add"), data)
    assert response.status_code == 200 and "api_key" in response.context["adminform"].form.errors
    data = _account_post(type="bedrock", bedrock_auth_mode="apikey", api_key="ABSK123", aws_access_key_id="")
    assert client_admin.post(reverse("admin:accounts_account_add"), data).status_code == 302
    account = Account.objects.get(name="secret-acct")
    assert account.bedrock_auth_mode == "apikey" and account.api_key == "ABSK123"


def test_account_form_groups_follow_sort_order_and_save(client_admin, make_group, make_account):
    late = make_group("late", sort_order=20)
    early = make_group("early", sort_order=5)
    account = make_account(name="secret-acct")
    url = reverse("admin:accounts_account_change", args=[account.pk])
    field = client_admin.get(url).context["adminform"].form.fields["groups"]
    assert [g.name for g in field.queryset] == ["early", "late"]
    assert client_admin.post(url, _account_post(groups=[late.pk, early.pk])).status_code == 302
    assert set(account.groups.values_list("name", flat=True)) == {"early", "late"}
    assert client_admin.post(url, _account_post(groups=[early.pk])).status_code == 302
    assert list(account.groups.values_list("name", flat=True)) == ["early"]
