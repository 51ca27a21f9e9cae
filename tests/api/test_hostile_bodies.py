"""Bodies built to hurt: JSON nested thousands deep (also before any login), lone surrogates. Each is a
400 in the envelope, never a 500."""

import pytest
from django.test import Client

from tests.api.conftest import Api

pytestmark = pytest.mark.django_db

DEEP = [
    "[" * 5000 + "]" * 5000,
    '{"a":' * 5000 + "1" + "}" * 5000,
    '{"email": "a@b.co", "password": "x", "extra": ' + "[" * 5000 + "]" * 5000 + "}",
    "[" * 40 + "]" * 40,  # shallow enough for Python, deeper than any body the API reads
]


@pytest.mark.parametrize("raw", DEEP, ids=["list", "object", "field", "40-levels"])
def test_deep_json_on_the_unauthenticated_login_is_400(raw):
    status, body = Api(Client()).post("/api/v1/auth/login", raw=raw)
    assert (status, body["code"]) == (400, 400), body
    assert body["message"].startswith("Invalid request: JSON nested deeper than")


@pytest.mark.parametrize("path", ["/api/v1/admin/groups", "/api/v1/admin/accounts", "/api/v1/admin/users"])
@pytest.mark.parametrize("raw", DEEP[:3], ids=["list", "object", "field"])
def test_deep_json_on_admin_endpoints_is_400(admin_api, path, raw):
    status, body = admin_api.post(path, raw=raw)
    assert (status, body["code"]) == (400, 400), body


def test_deep_json_with_a_session_is_400(django_user_model):
    """Session authentication reads the body for the CSRF token: the parser's error must still be a 400."""
    admin = django_user_model.objects.create_superuser("deep@example.com", "pw-admin-123")
    client = Client()
    client.force_login(admin)
    status, body = Api(client).post("/api/v1/admin/groups", raw="[" * 5000 + "]" * 5000)
    assert (status, body["code"]) == (400, 400), body


def test_nesting_the_api_reads_is_fine(admin_api):
    status, body = admin_api.post("/api/v1/admin/groups", {"name": "routed", "model_routing": {"claude-*": [1, 2]}})
    assert status == 200, body


@pytest.mark.parametrize("raw", [
    '{"email": "\\ud800@example.com", "password": "x"}', '{"email": "a@b.co", "password": "\\udfff"}',
    '{"\\ud800": 1}',
])
def test_lone_surrogates_are_400(raw):
    status, body = Api(Client()).post("/api/v1/auth/login", raw=raw)
    assert (status, body["code"]) == (400, 400), body
    assert "surrogate" in body["message"]


def test_lone_surrogates_in_a_stored_field_are_400(admin_api):
    status, body = admin_api.post("/api/v1/admin/groups", raw='{"name": "g\\udbff"}')
    assert (status, body["code"]) == (400, 400)
