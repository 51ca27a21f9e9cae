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
            "status": "active", "balance_adjustment": "",
            "group_rates-TOTAL_FORMS": "0", "group_rates-INITIAL_FORMS": "0",
            "group_rates-MIN_NUM_FORMS": "0", "group_rates-MAX_NUM_FORMS": "1000"}
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
