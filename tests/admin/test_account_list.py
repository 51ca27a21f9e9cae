"""The account list (issue 15): groups, state, today's requests / errors / account cost (usage.stats),
quota badges, last use; and one date-time format with its zone across the admin."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.display import when
from core.timezones import zone_of

pytestmark = pytest.mark.django_db


def _log(user, account, *, status=200, cost="0.50", created_at=None):
    from billing.models import UsageLog

    return UsageLog.objects.create(
        request_id=f"r-{UsageLog.objects.count() + 1}", user=user, account=account, model="claude-sonnet-4-5",
        total_cost=Decimal(cost), actual_cost=Decimal(cost), status=status,
        created_at=created_at or timezone.now(),
    )


def _row_html(html: str, name: str) -> str:
    start = html.index(f">{name}</a>")
    return html[start:html.index("</tr>", start)]


def test_the_list_shows_groups_today_quota_and_last_use(client_admin, admin_user, make_account, make_group):
    from groups.models import GroupAccount

    busy = make_account(name="busy", quota_daily_limit=Decimal(10), quota_daily_used=Decimal(2),
                        quota_daily_start=timezone.now(), last_used_at=dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC))
    idle = make_account(name="idle")
    for group in (make_group("Claude Code"), make_group("Default")):
        GroupAccount.objects.create(group=group, account=busy)
    _log(admin_user, busy, cost="0.25")
    _log(admin_user, busy, cost="0.50")
    _log(admin_user, busy, status=529, cost="0")
    _log(admin_user, busy, cost="9", created_at=timezone.now() - dt.timedelta(days=2))  # not today
    _log(admin_user, idle, cost="1", created_at=timezone.now() - dt.timedelta(days=2))
    html = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    row = _row_html(html, "busy")
    assert "Claude Code</span>" in row and "Default</span>" in row
    assert ">3 requests</span>" in row
    assert 'class="sr-badge sr-over" title="">1 error</span>' in row
    assert ">$0.75</span>" in row
    assert "D $2.00/$10.00" in row  # quota badge
    assert ">Active</span>" in row
    assert "2026-03-04 05:06 UTC" in row  # last use, with its zone
    idle_row = _row_html(html, "idle")
    assert "no requests today" in idle_row and "no group" in idle_row


def test_one_date_format_with_the_zone(client_admin, make_account, settings):
    account = make_account(name="dated", expires_at=dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC),
                           rate_limit_reset_at=timezone.now() + dt.timedelta(hours=1))
    html = client_admin.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert "2030-01-02" in html  # the form's date input
    assert when(dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)) == "2030-01-02 03:04 UTC"
    listing = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    reset = timezone.localtime(account.rate_limit_reset_at).strftime("%Y-%m-%d %H:%M")
    assert f"Rate limited until {reset} UTC" in listing
    client_admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    listing = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert f"{reset} UTC" in listing  # the same format in Chinese


def test_time_zone_setting_and_the_users_own_zone(client_admin, admin_user, make_account, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    make_account(name="tz", last_used_at=dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC))
    html = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "2026-03-04 13:06 CST" in html
    admin_user.time_zone = "America/New_York"  # what a user model with its own zone carries
    assert str(zone_of(admin_user)) == "America/New_York"
    admin_user.time_zone = "Not/AZone"
    assert zone_of(admin_user) is None  # a bad name falls back to TIME_ZONE


def test_the_users_own_zone_is_used_on_admin_pages(rf, admin_user):
    from core.timezones import UserTimeZoneMiddleware

    seen = {}

    def view(request):
        seen[request.path] = timezone.get_current_timezone_name()
        return None

    admin_user.time_zone = "Europe/Berlin"
    middleware = UserTimeZoneMiddleware(view)
    for path in ("/admin/accounts/account/", "/api/v1/admin/accounts"):
        request = rf.get(path)
        request.user = admin_user
        middleware(request)
    assert seen == {"/admin/accounts/account/": "Europe/Berlin", "/api/v1/admin/accounts": "UTC"}
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaks past the request


async def test_the_users_own_zone_on_the_async_path(rf, admin_user):
    from core.timezones import UserTimeZoneMiddleware

    seen = []

    async def view(request):
        seen.append(timezone.get_current_timezone_name())

    admin_user.time_zone = "Asia/Tokyo"
    request = rf.get("/admin/")

    async def auser():
        return admin_user

    request.auser = auser
    await UserTimeZoneMiddleware(view)(request)
    assert seen == ["Asia/Tokyo"]


def test_an_admin_who_chose_a_zone_sees_the_admin_in_it(client_admin, admin_user, make_account, settings):
    from django.core.exceptions import ValidationError

    settings.TIME_ZONE = "UTC"
    make_account(name="tz", last_used_at=dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC))
    admin_user.time_zone = "America/New_York"
    admin_user.save(update_fields=["time_zone"])
    html = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "2026-03-04 00:06 EST" in html
    page = client_admin.get(reverse("admin:users_user_change", args=[admin_user.pk])).content.decode()
    assert '<option value="America/New_York" selected>' in page and "Server default (UTC)" in page
    admin_user.time_zone = "Not/AZone"
    with pytest.raises(ValidationError) as refused:
        admin_user.full_clean()
    assert "time_zone" in refused.value.message_dict
