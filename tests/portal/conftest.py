"""Portal fixtures: end users (each with their own group, key and logs) and signed-in test clients."""

import uuid
from decimal import Decimal

import pytest
from django.test import Client

PASSWORD = "pw-portal-1234"


def fresh_address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_person(db):
    from users.models import User

    def make(email=None, **fields):
        fields.setdefault("balance", Decimal("10"))
        return User.objects.create_user(email or f"{uuid.uuid4().hex[:10]}@example.com", PASSWORD, **fields)

    return make


@pytest.fixture
def person(make_person):
    return make_person("alice@example.com")


@pytest.fixture
def other(make_person):
    return make_person("bob@example.com")


@pytest.fixture
def group(make_group):
    return make_group("claude", platform="anthropic")


@pytest.fixture
def signed_in():
    def sign_in(user):
        client = Client(REMOTE_ADDR=fresh_address())
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def make_log(db):
    from billing.models import UsageLog

    def make(user, key=None, **fields):
        fields.setdefault("model", "claude-sonnet-4-5")
        fields.setdefault("upstream_model", "claude-sonnet-4-5-20250929-SECRET-UPSTREAM")
        fields.setdefault("input_tokens", 10)
        fields.setdefault("output_tokens", 5)
        fields.setdefault("actual_cost", Decimal("0.0015"))
        fields.setdefault("total_cost", Decimal("0.0015"))
        return UsageLog.objects.create(request_id=uuid.uuid4().hex, user=user, api_key=key,
                                       group=key.group if key else None, **fields)

    return make


@pytest.fixture
def make_key_for(db, make_group):
    from apikeys import services

    def make(user, group=None, **fields):
        key, _secret = services.create_key(user, group=group or make_group(), **fields)
        return key

    return make


# Playwright on Debian's chromium: the admin tests' fixtures, reused as they are.
from tests.admin.conftest import browser, chromium_path  # noqa: E402, F401
