"""Admin user API: CRUD and balance operations."""

from decimal import Decimal

import pytest

from tests.api.conftest import data
from users.models import User

pytestmark = pytest.mark.django_db


def test_create_and_read_user(admin_api, make_group):
    group = make_group("vip", is_exclusive=True)
    body = data(admin_api.post("/api/v1/admin/users", {
        "email": "New@Example.com", "password": "long-enough-pw", "balance": 12.5, "concurrency": 3,
        "allowed_groups": [group.pk],
    }))
    assert {k: body[k] for k in ("email", "role", "balance", "concurrency", "status")} == {
        "email": "new@example.com", "role": "user", "balance": 12.5, "concurrency": 3, "status": "active",
    }
    assert body["allowed_groups"] == [group.pk] and body["created_at"].endswith("Z")
    assert "password" not in body
    user = User.objects.get(pk=body["id"])
    assert user.check_password("long-enough-pw") and user.balance == Decimal("12.5")
    assert list(user.balance_changes.values_list("amount", "kind")) == [(Decimal("12.5"), "api")]
    assert data(admin_api.get(f"/api/v1/admin/users/{user.pk}"))["email"] == "new@example.com"


@pytest.mark.parametrize("body, field", [
    ({"password": "long-enough-pw"}, "email"),
    ({"email": "not-an-email", "password": "long-enough-pw"}, "email"),
    ({"email": "a@b.co"}, "password"),
    ({"email": "a@b.co", "password": "short"}, "password"),
    ({"email": "a@b.co", "password": "long-enough-pw", "role": "root"}, "role"),
    ({"email": "a@b.co", "password": "long-enough-pw", "balance": -1}, "balance"),
    ({"email": "a@b.co", "password": "long-enough-pw", "concurrency": -1}, "concurrency"),
    ({"email": "a@b.co", "password": "long-enough-pw", "allowed_groups": "1"}, "allowed_groups"),
])
def test_invalid_user_bodies(admin_api, body, field):
    status, answer = admin_api.post("/api/v1/admin/users", body)
    assert status == 400 and answer["message"].startswith(f"{field}:"), answer
    assert not User.objects.exists()


def test_duplicate_email_is_409(admin_api, user):
    status, body = admin_api.post("/api/v1/admin/users", {"email": user.email, "password": "long-enough-pw"})
    assert (status, body["reason"]) == (409, "EMAIL_EXISTS")


def test_update_is_partial_and_never_touches_balance(admin_api, user):
    body = data(admin_api.put(f"/api/v1/admin/users/{user.pk}", {"concurrency": 9, "balance": 999}))
    assert (body["concurrency"], body["balance"], body["email"]) == (9, 10, user.email)
    body = data(admin_api.put(f"/api/v1/admin/users/{user.pk}", {"status": "disabled", "role": "admin"}))
    assert (body["status"], body["role"], body["is_staff"]) == ("disabled", "admin", True)


def test_password_change_through_update(admin_api, user):
    data(admin_api.put(f"/api/v1/admin/users/{user.pk}", {"password": "brand-new-password"}))
    user.refresh_from_db()
    assert user.check_password("brand-new-password")


def test_delete_user(admin_api, user):
    data(admin_api.delete(f"/api/v1/admin/users/{user.pk}"))
    assert not User.objects.filter(pk=user.pk).exists()
    assert admin_api.get(f"/api/v1/admin/users/{user.pk}")[0] == 404


def test_users_are_listed_by_id(admin_api, make_user):
    users = [make_user() for _ in range(3)]
    assert [u["id"] for u in data(admin_api.get("/api/v1/admin/users"))["items"]] == [u.pk for u in users]


@pytest.mark.parametrize("operation, amount, expected", [
    ("set", "3.25", Decimal("3.25")), ("add", "0.000000001", Decimal("10.000000001")), ("subtract", "10", Decimal(0)),
])
def test_balance_operations(admin_api, user, operation, amount, expected):
    body = data(admin_api.post(f"/api/v1/admin/users/{user.pk}/balance", {
        "balance": amount, "operation": operation, "notes": "manual top-up",
    }))
    user.refresh_from_db()
    assert user.balance == expected and Decimal(str(body["balance"])) == expected


@pytest.mark.parametrize("body", [
    {"balance": 10.01, "operation": "subtract"}, {"balance": -1, "operation": "set"},
    {"balance": 1, "operation": "multiply"}, {"operation": "add"}, {"balance": 1},
    {"balance": "NaN", "operation": "add"},
    {"balance": 10**9, "operation": "add", "notes": 5},
])
def test_bad_balance_operations_change_nothing(admin_api, user, body):
    status, answer = admin_api.post(f"/api/v1/admin/users/{user.pk}/balance", body)
    assert (status, answer["code"]) == (400, 400), answer
    user.refresh_from_db()
    assert user.balance == Decimal(10)


def test_balance_cannot_overflow(admin_api, user):
    for _ in range(8):
        data(admin_api.post(f"/api/v1/admin/users/{user.pk}/balance", {"balance": 10**9, "operation": "add"}))
    status, _ = admin_api.post(f"/api/v1/admin/users/{user.pk}/balance", {"balance": 10**9, "operation": "add"})
    assert status == 400
    user.refresh_from_db()
    assert user.balance == Decimal(8 * 10**9 + 10)


def test_balance_notes_are_kept_in_the_history(admin_api, user, make_user):
    from billing.models import BalanceChange

    admin = make_user(role=User.Role.ADMIN)  # the admin key acts as the first admin
    data(admin_api.post(f"/api/v1/admin/users/{user.pk}/balance", {
        "balance": "2.5", "operation": "subtract", "notes": "refund of invoice 7"}))
    data(admin_api.post(f"/api/v1/admin/users/{user.pk}/balance", {"balance": "20", "operation": "set"}))
    changes = list(BalanceChange.objects.filter(user=user).order_by("id"))
    assert [(c.amount, c.balance_after, c.note, c.kind, c.actor) for c in changes] == [
        (Decimal("-2.5"), Decimal("7.5"), "refund of invoice 7", "api", admin),
        (Decimal("12.5"), Decimal("20"), "", "api", admin),
    ]


def test_a_refused_balance_operation_records_nothing(admin_api, user):
    from billing.models import BalanceChange

    status, answer = admin_api.post(f"/api/v1/admin/users/{user.pk}/balance", {
        "balance": "11", "operation": "subtract", "notes": "too much"})
    assert (status, answer["reason"]) == (400, "INSUFFICIENT_BALANCE") and answer["message"].startswith("balance:")
    assert not BalanceChange.objects.exists()
