"""POST /api/v1/auth/login is throttled per client address (through TRUSTED_PROXIES only) and per account."""

import uuid

import pytest
from django.test import Client

from tests.api.conftest import Api

pytestmark = pytest.mark.django_db
LOGIN = "/api/v1/auth/login"


def fresh_address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def test_a_spoofed_forwarding_header_does_not_reset_the_limit(user, settings):
    settings.API_LOGIN_RATE, settings.TRUSTED_PROXIES = "3/min", []
    address = fresh_address()
    wrong = {"email": user.email, "password": "wrong-password"}
    statuses = [
        Api(Client(REMOTE_ADDR=address), {"X-Forwarded-For": fresh_address(), "X-Real-IP": fresh_address(),
                                          "CF-Connecting-IP": fresh_address()}).post(LOGIN, wrong)[0]
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(user, settings):
    settings.API_LOGIN_RATE, settings.TRUSTED_PROXIES = "2/min", ["127.0.0.0/8"]
    proxy = Api(Client(REMOTE_ADDR="127.0.0.1"))
    first, second = fresh_address(), fresh_address()
    wrong = {"email": user.email, "password": "wrong-password"}
    assert [proxy.post(LOGIN, wrong, **{"X-Forwarded-For": first})[0] for _ in range(3)] == [401, 401, 429]
    status, body = proxy.post(LOGIN, wrong, **{"X-Forwarded-For": f"{first}, {second}"})
    assert status == 401


def test_many_addresses_guessing_one_account_are_stopped(make_user, settings):
    settings.API_LOGIN_RATE, settings.API_LOGIN_ACCOUNT_RATE = "100/min", "5/hour"
    user = make_user(f"{uuid.uuid4().hex}@example.com")  # counters outlive the test database in Redis
    wrong = {"email": user.email.upper(), "password": "wrong-password"}
    statuses = [Api(Client(REMOTE_ADDR=fresh_address())).post(LOGIN, wrong)[0] for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    status, body = Api(Client(REMOTE_ADDR=fresh_address())).post(LOGIN, {"email": user.email,
                                                                          "password": "pw-user-1234"})
    assert (status, body["code"]) == (429, 429)
    assert body["message"].startswith("Too many login attempts. Try again in ")


def test_successful_logins_do_not_count_against_the_account(make_user, settings):
    settings.API_LOGIN_RATE, settings.API_LOGIN_ACCOUNT_RATE = "100/min", "2/hour"
    user = make_user(f"{uuid.uuid4().hex}@example.com")
    right = {"email": user.email, "password": "pw-user-1234"}
    assert [Api(Client(REMOTE_ADDR=fresh_address())).post(LOGIN, right)[0] for _ in range(4)] == [200] * 4
