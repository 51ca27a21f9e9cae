"""Who may call what: admin key, staff session, user tokens (login, expiry, revocation by password change)."""

import pytest
from django.test import Client

from apikeys.models import AdminApiKey
from tests.api.conftest import Api, data, token_api
from users.models import User

pytestmark = pytest.mark.django_db

ADMIN_PATH = "/api/v1/admin/users"


def test_valid_admin_key(admin_api):
    assert data(admin_api.get(ADMIN_PATH))["total"] == 0


def test_wrong_admin_key_is_401_invalid_admin_key(admin_key):
    status, body = Api(Client(), {"x-api-key": "admin-wrong"}).get(ADMIN_PATH)
    assert (status, body["code"], body["reason"]) == (401, 401, "INVALID_ADMIN_KEY")


def test_rotated_admin_key_stops_working(admin_key):
    AdminApiKey.rotate()
    status, body = Api(Client(), {"x-api-key": admin_key}).get(ADMIN_PATH)
    assert (status, body["reason"]) == (401, "INVALID_ADMIN_KEY")


def test_no_credentials_is_401(db):
    status, body = Api(Client()).get(ADMIN_PATH)
    assert (status, body["code"]) == (401, 401)


def test_staff_session_is_admin(db):
    admin = User.objects.create_superuser("root@example.com", "pw-admin-123")
    client = Client()
    client.force_login(admin)
    assert data(Api(client).get(ADMIN_PATH))["items"][0]["email"] == "root@example.com"


def test_non_admin_session_is_403_forbidden(user):
    client = Client()
    client.force_login(user)
    status, body = Api(client).get(ADMIN_PATH)
    assert (status, body["code"], body["reason"]) == (403, 403, "FORBIDDEN")


def test_non_admin_token_is_403_forbidden(user_api):
    status, body = user_api.get(ADMIN_PATH)
    assert (status, body["reason"]) == (403, "FORBIDDEN")


def test_admin_token_is_admin(make_user):
    admin = User.objects.create_superuser("root@example.com", "pw-user-1234")
    assert data(token_api(admin).get(ADMIN_PATH))["total"] == 1


def test_session_writes_need_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/keys", "{}", content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == 403


def test_login_and_me(user):
    status, body = Api(Client()).post("/api/v1/auth/login", {"email": "ALICE@example.com", "password": "pw-user-1234"})
    login = data((status, body))
    assert login["token_type"] == "Bearer" and login["expires_in"] == 24 * 3600
    assert login["user"]["email"] == "alice@example.com" and "password" not in login["user"]
    me = data(Api(Client(), {"Authorization": f"Bearer {login['access_token']}"}).get("/api/v1/auth/me"))
    assert (me["id"], me["role"], me["balance"]) == (user.pk, "user", 10)


@pytest.mark.parametrize("body", [
    {"email": "alice@example.com", "password": "wrong-password"},
    {"email": "nobody@example.com", "password": "pw-user-1234"},
])
def test_bad_login_is_401(user, body):
    status, answer = Api(Client()).post("/api/v1/auth/login", body)
    assert (status, answer["reason"]) == (401, "INVALID_CREDENTIALS")


def test_disabled_user_cannot_log_in(user):
    user.status = User.Status.DISABLED
    user.save()
    status, _ = Api(Client()).post("/api/v1/auth/login", {"email": user.email, "password": "pw-user-1234"})
    assert status == 401


@pytest.mark.parametrize("body", [{}, {"email": "a@b.c"}, {"email": 5, "password": "x"}, ["a"], "text"])
def test_malformed_login_is_400(db, body):
    status, answer = Api(Client()).post("/api/v1/auth/login", body)
    assert (status, answer["code"]) == (400, 400)


def test_password_change_revokes_tokens(user):
    api = token_api(user)
    user.set_password("another-password")
    user.save()
    status, body = api.get("/api/v1/auth/me")
    assert (status, body["reason"]) == (401, "TOKEN_REVOKED")


def test_expired_token(user, settings):
    api = token_api(user)
    settings.API_TOKEN_TTL = -1
    status, body = api.get("/api/v1/auth/me")
    assert (status, body["reason"]) == (401, "TOKEN_EXPIRED")


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer ", "Bearer a.b.c"])
def test_invalid_tokens(user, header):
    status, body = Api(Client(), {"Authorization": header}).get("/api/v1/auth/me")
    assert status == 401 and body["reason"] in ("INVALID_TOKEN", "EMPTY_TOKEN")


def test_a_deleted_users_token(user):
    api = token_api(user)
    user.delete()
    status, body = api.get("/api/v1/auth/me")
    assert (status, body["reason"]) == (401, "USER_NOT_FOUND")


def test_login_attempts_are_rate_limited_per_address(user, settings):
    from django.core.cache import cache

    settings.API_LOGIN_RATE = "3/min"
    cache.delete("throttle_login_127.0.0.1")
    api = Api(Client(REMOTE_ADDR="127.0.0.1"))
    wrong = {"email": user.email, "password": "wrong-password"}
    assert [api.post("/api/v1/auth/login", wrong)[0] for _ in range(3)] == [401, 401, 401]
    status, body = api.post("/api/v1/auth/login", {"email": user.email, "password": "pw-user-1234"})
    assert (status, body["code"]) == (429, 429)
    assert Api(Client(REMOTE_ADDR="10.9.8.7")).post("/api/v1/auth/login", wrong)[0] == 401
    cache.delete("throttle_login_127.0.0.1")
    cache.delete("throttle_login_10.9.8.7")
