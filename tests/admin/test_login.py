"""/admin/login/: lands in the admin, and is throttled by the REST login's rule (per address, per account)."""

import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


def fresh_address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


@pytest.fixture
def admin(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_superuser(f"{uuid.uuid4().hex[:12]}@example.com", "pw-admin-123")


def submit(client, email, password):
    return client.post(LOGIN, {"username": email, "password": password})


def test_login_opened_directly_lands_in_the_admin(admin):
    client = Client(REMOTE_ADDR=fresh_address())
    assert client.get(LOGIN).status_code == 200
    response = submit(client, admin.email, "pw-admin-123")
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200


def test_next_is_still_followed(admin):
    client = Client(REMOTE_ADDR=fresh_address())
    response = client.post(f"{LOGIN}?next=/admin/groups/group/", {"username": admin.email, "password": "pw-admin-123"})
    assert response["Location"] == "/admin/groups/group/"


def test_forty_wrong_passwords_then_the_right_one_does_not_log_in(admin, settings):
    settings.API_LOGIN_RATE, settings.API_LOGIN_ACCOUNT_RATE = "20/min", ""
    client = Client(REMOTE_ADDR=fresh_address())
    for _ in range(40):
        submit(client, admin.email, "wrong-password")
    response = submit(client, admin.email, "pw-admin-123")
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "Too many login attempts. Try again in" in response.content.decode()


def test_one_account_is_protected_across_addresses(admin, settings):
    settings.API_LOGIN_RATE, settings.API_LOGIN_ACCOUNT_RATE = "100/min", "3/hour"
    for _ in range(3):
        assert submit(Client(REMOTE_ADDR=fresh_address()), admin.email, "wrong").status_code == 200
    client = Client(REMOTE_ADDR=fresh_address())
    response = submit(client, admin.email, "pw-admin-123")
    assert "_auth_user_id" not in client.session
    assert "Too many login attempts" in response.content.decode()


def test_the_message_is_translated(admin, settings):
    settings.API_LOGIN_RATE, settings.API_LOGIN_ACCOUNT_RATE = "1/min", ""
    client = Client(REMOTE_ADDR=fresh_address(), headers={"Accept-Language": "zh-hans"})
    submit(client, admin.email, "wrong")
    response = submit(client, admin.email, "wrong")
    assert "登录尝试次数过多" in response.content.decode()
