"""REST API fixtures: a JSON client per identity (admin key, staff session, user token), factories."""

import json
from decimal import Decimal

import pytest
from django.test import Client


class Api:
    """A JSON client: `api.get(path)` → (status, body)."""

    def __init__(self, client: Client, headers: dict | None = None):
        self.client, self.headers = client, headers or {}

    def call(self, method, path, body=None, raw=None, **headers):
        kwargs = {"headers": {**self.headers, **headers}}
        if raw is not None:
            kwargs.update(data=raw, content_type="application/json")
        elif body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        response = getattr(self.client, method)(path, **kwargs)
        assert response["Content-Type"].startswith("application/json"), response.content[:300]
        return response.status_code, response.json()

    def get(self, path, **headers):
        return self.call("get", path, **headers)

    def post(self, path, body=None, **kw):
        return self.call("post", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("put", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("delete", path, **kw)


def data(result):
    """The `data` of a success envelope (asserting it is one)."""
    status, body = result
    assert status == 200, body
    assert body["code"] == 0 and body["message"] == "success", body
    return body["data"]


@pytest.fixture
def admin_key(db):
    from apikeys.models import AdminApiKey

    return AdminApiKey.current().secret


@pytest.fixture
def admin_api(admin_key):
    return Api(Client(), {"x-api-key": admin_key})


@pytest.fixture
def make_user(db):
    from users.models import User

    def make(email=None, password="pw-user-1234", **fields):
        email = email or f"user{User.objects.count() + 1}@example.com"
        return User.objects.create_user(email, password, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice@example.com", balance=Decimal("10"))


def token_api(user, password="pw-user-1234") -> Api:
    status, body = Api(Client()).post("/api/v1/auth/login", {"email": user.email, "password": password})
    assert status == 200, body
    return Api(Client(), {"Authorization": f"Bearer {body['data']['access_token']}"})


@pytest.fixture
def user_api(user):
    return token_api(user)


@pytest.fixture(autouse=True)
def api_test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.API_LOGIN_RATE = ""  # tests log in far more often than a person; test_login_throttle covers it
    settings.API_LOGIN_ACCOUNT_RATE = ""
