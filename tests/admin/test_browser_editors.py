"""The row editors and the account list in a real browser (Debian's chromium via Playwright): add rows,
remove one, save, see the stored JSON; a bad row comes back with its message; the account list columns."""

from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _fill_last_row(page, editor, *values):
    row = page.locator(f"{editor} tbody tr").last
    for i, value in enumerate(values):
        row.locator("input").nth(i).fill(value)


def test_mapping_rows_are_added_removed_and_saved(admin_page):
    from accounts.models import Account

    account = Account.objects.create(name="rows", type="apikey", api_key="sk-x", model_mapping={"old": "x"})
    page = admin_page
    page.goto(f"{page.base}/admin/accounts/account/{account.pk}/change/")
    page.wait_for_load_state("networkidle")
    mapping = "#id_model_mapping"
    assert page.locator(f"{mapping} tbody tr").count() == 1
    page.click(f"{mapping} .sr-rows-add")
    _fill_last_row(page, mapping, "claude-*", "claude-sonnet-4-5")
    page.click(f"{mapping} .sr-rows-add")
    _fill_last_row(page, mapping, "fast", "claude-haiku-4-5")
    page.locator(f"{mapping} tbody tr").first.locator(".sr-rows-remove").click()  # drop "old"
    assert page.locator(f"{mapping} tbody tr").count() == 2
    page.click("#id_allowed_models .sr-rows-add")
    _fill_last_row(page, "#id_allowed_models", "claude-*")
    page.click("button[name=_continue]")
    page.wait_for_load_state("networkidle")
    account.refresh_from_db()
    assert account.model_mapping == {"claude-*": "claude-sonnet-4-5", "fast": "claude-haiku-4-5"}
    assert account.allowed_models == ["claude-*"]
    assert page.locator(f"{mapping} input[value='fast']").count() == 1  # the saved rows are shown again


def test_routing_validation_errors_are_shown_and_fixed(admin_page):
    from accounts.models import Account
    from groups.models import Group, GroupAccount

    group = Group.objects.create(name="routed")
    opus = Account.objects.create(name="opus-pool", type="apikey", api_key="sk-x")
    GroupAccount.objects.create(group=group, account=opus)
    page = admin_page
    page.goto(f"{page.base}/admin/groups/group/{group.pk}/change/")
    page.wait_for_load_state("networkidle")
    routing = "#id_model_routing"
    page.click(f"{routing} .sr-rows-add")
    row = page.locator(f"{routing} tbody tr").last
    row.locator("input[type=text]").fill("claude*opus")
    row.get_by_label("opus-pool").check()
    page.click("button[name=_continue]")
    page.wait_for_load_state("networkidle")
    assert "Row 1: “*” is only allowed at the end of a pattern" in page.content()
    assert Group.objects.get(pk=group.pk).model_routing == {}
    page.locator(f"{routing} tbody tr").first.locator("input[type=text]").fill("claude-opus-*")
    page.click("button[name=_continue]")
    page.wait_for_load_state("networkidle")
    assert Group.objects.get(pk=group.pk).model_routing == {"claude-opus-*": [opus.pk]}


def test_the_account_list_columns(admin_page):
    from playwright.sync_api import expect

    from accounts.models import Account
    from billing.models import UsageLog
    from groups.models import Group, GroupAccount
    from users.models import User

    account = Account.objects.create(name="listed", type="apikey", api_key="sk-x", quota_limit=Decimal(10))
    GroupAccount.objects.create(group=Group.objects.create(name="Claude Code"), account=account)
    user = User.objects.get(email="ui@example.com")
    for i, status in enumerate((200, 200, 500)):
        UsageLog.objects.create(request_id=f"r{i}", user=user, account=account, model="m", status=status,
                                total_cost=Decimal("0.10"), actual_cost=Decimal("0.10"))
    page = admin_page
    page.goto(f"{page.base}/admin/accounts/account/")
    row = page.locator("#result_list tbody tr", has_text="listed")
    assert row.locator(".field-groups_column").inner_text().strip() == "Claude Code"
    today = row.locator(".field-today_column").inner_text()
    assert "3 requests" in today and "1 error" in today and "$0.30" in today
    assert row.locator(".field-today_column .sr-badge.sr-over").count() == 1
    assert row.locator(".field-state").inner_text().strip() == "Active"
    expect(page.get_by_text("Gateway", exact=True)).to_be_visible()  # the sidebar, grouped by task
    expect(page.get_by_role("link", name="Beta policy")).to_be_visible()
