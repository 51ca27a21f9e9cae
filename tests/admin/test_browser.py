"""The interactive admin parts in a real browser (Debian's chromium via Playwright): drag-sorting groups,
the reset-quota confirmation flow, the +30 days quick select, and badge/bar colours."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def test_drag_sort_groups_persists(admin_page):
    from groups.models import Group

    for i, name in enumerate(["Alpha", "Bravo", "Charlie"]):
        Group.objects.create(name=name, sort_order=i)
    page = admin_page
    page.goto(f"{page.base}/admin/groups/group/")
    handles = page.locator("#result_list [x-sort\\:handle]")
    assert handles.count() == 3
    # Drag Charlie (last) above Alpha (first) with real mouse moves, as a person would.
    source = handles.nth(2).bounding_box()
    target = handles.nth(0).bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    for step in range(1, 11):
        y = source["y"] + (target["y"] - 5 - source["y"]) * step / 10
        page.mouse.move(source["x"] + source["width"] / 2, y + source["height"] / 2)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.click("button[name=_save]")
    page.wait_for_load_state("networkidle")
    assert list(Group.objects.values_list("name", flat=True)) == ["Charlie", "Alpha", "Bravo"]
    page.reload()
    names = page.locator("#result_list tbody tr.data-row .field-name").all_inner_texts()
    assert [n.strip() for n in names] == ["Charlie", "Alpha", "Bravo"]


def test_reset_quota_confirmation_flow(admin_page):
    from accounts.models import Account

    account = Account.objects.create(name="capped", type="apikey", quota_limit=D(10))
    Account.objects.filter(pk=account.pk).update(quota_used=D(12))
    page = admin_page
    page.goto(f"{page.base}/admin/accounts/account/")
    assert page.locator(".field-quota_column .sr-badge.sr-over").count() == 1
    page.goto(f"{page.base}/admin/accounts/account/{account.pk}/reset-quota/")
    assert "$12.00" in page.locator("#sr-confirm").inner_text()
    page.locator("#sr-confirm button[type=submit]").click()
    page.wait_for_url(f"{page.base}/admin/accounts/account/")
    account.refresh_from_db()
    assert account.quota_used == 0
    assert page.locator(".field-quota_column .sr-badge.sr-ok").count() == 1
    assert page.locator(".field-quota_column .sr-badge.sr-over").count() == 0


def test_bulk_reset_quota_via_action_menu(admin_page):
    from accounts.models import Account

    account = Account.objects.create(name="bulk", type="apikey", quota_limit=D(10))
    Account.objects.filter(pk=account.pk).update(quota_used=D(9))
    page = admin_page
    page.goto(f"{page.base}/admin/accounts/account/")
    page.locator("input.action-select").first.check()
    page.select_option("select[name=action]", "reset_quota_selected")
    page.locator("button[name=index]").first.click()
    page.wait_for_selector("#sr-confirm")
    assert "$9.00" in page.locator("#sr-confirm").inner_text()
    page.locator("#sr-confirm button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    account.refresh_from_db()
    assert account.quota_used == 0


def test_quick_select_30_days_sets_expiry(admin_page):
    from playwright.sync_api import expect

    from apikeys.models import ApiKey
    from users.models import User

    user = User.objects.get(email="ui@example.com")
    key, _ = ApiKey.objects.create_key(user=user, name="expiring")
    page = admin_page
    page.goto(f"{page.base}/admin/apikeys/apikey/{key.pk}/change/")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-sr-days='30']")).to_be_hidden()  # expiry off: no picker
    page.locator("#id_expires_enabled").check()
    page.locator("[data-sr-days='30']").click()
    value = page.input_value("#id_expires_at")
    picked = datetime.strptime(value, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(picked - expected) < timedelta(minutes=5)
    assert page.locator("#id_expires_enabled").is_checked()
    page.click("button[name=_save]")
    page.wait_for_load_state("networkidle")
    key.refresh_from_db()
    assert key.expires_at is not None and abs(key.expires_at - expected) < timedelta(minutes=5)


def test_badge_and_bar_colours(admin_page):
    from accounts.models import Account

    for name, used in (("green", 5), ("yellow", 8.5), ("red", 10)):
        account = Account.objects.create(name=name, type="apikey", quota_limit=D(10))
        Account.objects.filter(pk=account.pk).update(quota_used=D(str(used)))
    page = admin_page
    page.goto(f"{page.base}/admin/accounts/account/")

    def colour(selector):
        return page.locator(selector).first.evaluate("e => getComputedStyle(e).backgroundColor")

    assert colour(".sr-badge.sr-ok") == "rgb(220, 252, 231)"
    assert colour(".sr-badge.sr-warn") == "rgb(254, 249, 195)"
    assert colour(".sr-badge.sr-over") == "rgb(254, 226, 226)"
    assert colour(".sr-bar.sr-over > span") == "rgb(239, 68, 68)"
    assert colour(".sr-bar.sr-warn > span") == "rgb(234, 179, 8)"
    assert colour(".sr-bar.sr-ok > span") == "rgb(34, 197, 94)"


def test_bedrock_auth_mode_shows_matching_fields(admin_page):
    from playwright.sync_api import expect

    page = admin_page
    page.goto(f"{page.base}/admin/accounts/account/add/")
    page.wait_for_load_state("networkidle")  # Alpine binds the conditional fields after load
    page.select_option("#id_type", "bedrock")
    page.select_option("#id_bedrock_auth_mode", "sigv4")
    expect(page.locator("#id_aws_secret_access_key")).to_be_visible()
    expect(page.locator("#id_api_key")).to_be_hidden()
    page.select_option("#id_bedrock_auth_mode", "apikey")
    expect(page.locator("#id_api_key")).to_be_visible()
    expect(page.locator("#id_aws_secret_access_key")).to_be_hidden()


def test_adjust_a_balance_and_see_it_in_the_history(admin_page):
    from users.models import User

    user = User.objects.create_user("buyer@example.com", "pw-12345678", balance=D(10))
    page = admin_page
    page.goto(f"{page.base}/admin/users/user/{user.pk}/change/")
    page.fill("input[name=balance_adjustment]", "-2.5")
    page.fill("input[name=balance_note]", "refund for order 77")
    page.click("button[name=_continue]")
    page.wait_for_load_state("networkidle")
    history = page.locator("#balance_changes-group")
    row = history.locator("tr", has_text="refund for order 77")
    assert "−$2.50" in row.inner_text() and "$7.50" in row.inner_text() and "ui@example.com" in row.inner_text()
    user.refresh_from_db()
    assert user.balance == D("7.5")
