"""User admin: email login forms, balance shown and adjusted atomically, never overwritten by an edit."""

from decimal import Decimal

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_add_user_by_email(client_admin):
    from users.models import User

    data = {"email": "New@Example.com", "usable_password": "true", "password1": "long-password-1",
            "password2": "long-password-1", "role": "user", "balance": "12.5", "concurrency": "4"}
    response = client_admin.post(reverse("admin:users_user_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new@example.com")
    assert user.check_password("long-password-1") and user.balance == Decimal("12.5") and user.concurrency == 4
    assert list(user.balance_changes.values_list("amount", "kind")) == [(Decimal("12.5"), "admin")]


def _change_data(user, **overrides):
    data = {"email": user.email, "username": "", "notes": "", "concurrency": "5", "role": "user",
            "status": "active", "balance_adjustment": ""}
    for prefix, initial in (("group_rates", 0), ("balance_changes", user.balance_changes.count()),
                            ("api_keys", user.api_keys.count()), ("subscriptions", user.subscriptions.count())):
        data.update({f"{prefix}-TOTAL_FORMS": str(initial), f"{prefix}-INITIAL_FORMS": str(initial),
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    data.update(overrides)
    return data


def test_edit_never_overwrites_a_concurrent_charge_and_adjusts_atomically(client_admin):
    from users.models import User

    user = User.objects.create_user("u@example.com", "pw-12345678", balance=Decimal(10))
    url = reverse("admin:users_user_change", args=[user.pk])
    page = client_admin.get(url)
    assert b"$10.00" in page.content
    User.objects.filter(pk=user.pk).update(balance=Decimal(7))  # a request was charged meanwhile
    response = client_admin.post(url, _change_data(user, concurrency="9", balance_adjustment="5"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.balance == Decimal(12) and user.concurrency == 9


def test_user_list_shows_balance_role_status(client_admin):
    from users.models import User

    User.objects.create_user("rich@example.com", "pw-12345678", balance=Decimal("99.5"), status="disabled")
    html = client_admin.get(reverse("admin:users_user_changelist")).content.decode()
    assert "rich@example.com" in html and "$99.50" in html and "sr-over" in html


def test_an_adjustment_is_recorded_with_its_note_and_the_admin(client_admin, admin_user):
    from billing.models import BalanceChange
    from users.models import User

    user = User.objects.create_user("u@example.com", "pw-12345678", balance=Decimal(10))
    url = reverse("admin:users_user_change", args=[user.pk])
    response = client_admin.post(url, _change_data(user, balance_adjustment="-2.5", balance_note="goodwill refund"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    change = BalanceChange.objects.get(user=user)
    assert (change.amount, change.balance_after, change.note, change.actor, change.kind) == (
        Decimal("-2.5"), Decimal("7.5"), "goodwill refund", admin_user, "admin")


def test_an_adjustment_below_zero_is_a_field_error(client_admin):
    from billing.models import BalanceChange
    from users.models import User

    user = User.objects.create_user("u@example.com", "pw-12345678", balance=Decimal(10))
    url = reverse("admin:users_user_change", args=[user.pk])
    response = client_admin.post(url, _change_data(user, balance_adjustment="-10.01"))
    assert response.status_code == 200
    assert "negative" in str(response.context["adminform"].form.errors["balance_adjustment"])
    user.refresh_from_db()
    assert user.balance == Decimal(10) and not BalanceChange.objects.exists()


@pytest.fixture
def customer(admin_user, make_key):
    """A user with a balance history, a key, a subscription and one charged request."""
    from datetime import timedelta

    from django.utils import timezone

    from billing import balance
    from billing.models import BalanceChange, UsageLog
    from groups.models import Group
    from users.models import Subscription, User

    user = User.objects.create_user("cust@example.com", "pw-12345678", balance=Decimal(10))
    balance.adjust(user, "5.5", kind=BalanceChange.Kind.ADMIN, note="wire transfer 991", actor=admin_user)
    balance.adjust(user, "-1", kind=BalanceChange.Kind.API, note="correction")
    make_key(user=user, name="ci-runner")
    plan = Group.objects.create(name="monthly-plan", subscription_type="subscription")
    Subscription.objects.create(user=user, group=plan, expires_at=timezone.now() + timedelta(days=30))
    UsageLog.objects.create(request_id="r-1", user=user, model="claude-haiku-4-5", actual_cost=Decimal("1.25"),
                            total_cost=Decimal("1.25"))
    return user


def test_the_user_page_shows_history_keys_subscriptions_and_spend(client_admin, customer):
    html = client_admin.get(reverse("admin:users_user_change", args=[customer.pk])).content.decode()
    history = html[html.index("Balance history"):]
    assert "+$5.50" in history and "wire transfer 991" in history and "root@example.com" in history
    assert "−$1.00" in history and "correction" in history and "$14.50" in history
    assert history.index("correction") < history.index("wire transfer 991")  # newest first
    assert "ci-runner" in html and customer.api_keys.get().masked in html
    assert "monthly-plan" in html
    assert "today <b>$1.25</b>" in html[html.index("Spend (USD)"):]


def test_the_history_cannot_be_edited_on_the_page(client_admin, customer):
    form = client_admin.get(reverse("admin:users_user_change", args=[customer.pk])).context["inline_admin_formsets"]
    history = next(f for f in form if f.formset.prefix == "balance_changes")
    assert not history.has_add_permission and not history.has_change_permission
    assert not history.has_delete_permission and len(history.formset.forms) == 2


def test_permission_fields_only_for_superusers(client, client_admin, customer):
    from django.contrib.auth.models import Permission

    from users.models import User

    url = reverse("admin:users_user_change", args=[customer.pk])
    html = client_admin.get(url).content.decode()
    assert "Django admin permissions" in html and 'name="user_permissions"' in html
    assert "Django permission groups" in html and "Exclusive groups" in html

    staff = User.objects.create_user("staff@example.com", "pw-12345678", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=[
        "view_user", "change_user", "view_balancechange", "view_apikey", "view_subscription"]))
    client.force_login(staff)
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "wire transfer 991" in html
    assert "Django admin permissions" not in html
    assert not {"is_superuser", "groups", "user_permissions"} & set(page.context["adminform"].form.fields)

    # posting them anyway changes nothing
    client.post(url, {**_change_data(customer), "is_superuser": "on"})
    customer.refresh_from_db()
    assert not customer.is_superuser


def test_the_user_page_in_chinese(client_admin, customer):
    url = reverse("admin:users_user_change", args=[customer.pk])
    text = client_admin.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for phrase in ("余额历史", "调整原因", "专属分组", "Django 权限组", "Django 后台权限", "网关访问", "最近 7 天",
                   "管理页面", "操作人"):
        assert phrase in text, phrase
    english = client_admin.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Balance history" in english and "余额历史" not in english
