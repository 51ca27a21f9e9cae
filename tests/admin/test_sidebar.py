"""The sidebar grouped by task (issue 15): Gateway, Billing, People, in both languages; every registered
admin page stays reachable."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

GROUPS = {
    "Gateway": ["Accounts", "Groups", "API keys", "Proxies", "Beta policy", "Group memberships"],
    "Billing": ["Usage logs", "Prices", "Subscriptions", "Failed charges", "Group rates per user"],
    "People": ["Users", "Admin API keys"],
}
GROUPS_ZH = {"网关": ["账号", "分组", "API 密钥"], "计费": ["使用记录", "价格", "订阅"], "人员": ["用户"]}


def _sidebar(response):
    return {g["title"]: [(str(i["title"]), str(i["link"])) for i in g["items"] if i["has_permission"]]
            for g in response.context["sidebar_navigation"]}


def test_the_sidebar_is_grouped_by_task(client_admin):
    sidebar = _sidebar(client_admin.get(reverse("admin:index")))
    assert {str(k): [t for t, _ in v] for k, v in sidebar.items()} == GROUPS
    links = dict(sidebar["Gateway"])
    assert links["Accounts"] == reverse("admin:accounts_account_changelist")
    assert links["Beta policy"] == reverse("admin:accounts_betarule_changelist")
    for items in sidebar.values():
        for _title, link in items:
            assert client_admin.get(link).status_code == 200


def test_every_registered_page_is_in_the_sidebar(client_admin):
    sidebar = _sidebar(client_admin.get(reverse("admin:index")))
    linked = {link for items in sidebar.values() for _t, link in items}
    registered = {reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin.site._registry}
    assert registered - linked == set()


def test_the_sidebar_in_chinese(client_admin, settings):
    client_admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    sidebar = _sidebar(client_admin.get(reverse("admin:index")))
    titles = {str(k): [t for t, _ in v] for k, v in sidebar.items()}
    for group, items in GROUPS_ZH.items():
        assert set(items) <= set(titles[group])


def test_a_staff_user_sees_only_what_they_may_view(client, db):
    from django.contrib.auth.models import Permission

    from users.models import User

    staff = User.objects.create_user("staff@example.com", "pw-staff-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(staff)
    sidebar = _sidebar(client.get(reverse("admin:index")))
    assert [t for items in sidebar.values() for t, _ in items] == ["Accounts"]
