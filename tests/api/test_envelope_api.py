"""The envelope every /api/v1/ answer uses, pagination, and bad input that must be a 400, never a 500."""

import pytest

from tests.api.conftest import data

pytestmark = pytest.mark.django_db


def test_success_envelope(admin_api, make_group):
    make_group("g")
    status, body = admin_api.get("/api/v1/admin/groups/all")
    assert status == 200 and set(body) == {"code", "message", "data"}
    assert (body["code"], body["message"]) == (0, "success")


def test_page_shape_and_limits(admin_api, make_group):
    for i in range(25):
        make_group(f"g{i:02}", sort_order=i)
    first = data(admin_api.get("/api/v1/admin/groups"))
    assert set(first) == {"items", "total", "page", "page_size", "pages"}
    shape = (first["total"], first["page"], first["page_size"], first["pages"], len(first["items"]))
    assert shape == (25, 1, 20, 2, 20)
    last = data(admin_api.get("/api/v1/admin/groups?page=2"))
    assert [g["name"] for g in last["items"]] == ["g20", "g21", "g22", "g23", "g24"]
    assert data(admin_api.get("/api/v1/admin/groups?page_size=1000"))["page_size"] == 100
    beyond = data(admin_api.get("/api/v1/admin/groups?page=9"))
    assert beyond["items"] == [] and beyond["total"] == 25


@pytest.mark.parametrize("query", ["page=abc", "page=0", "page_size=-1", "page=1e3", "page=99999999999999999999"])
def test_bad_page_parameters_are_400(admin_api, query):
    status, body = admin_api.get(f"/api/v1/admin/groups?{query}")
    assert (status, body["code"]) == (400, 400)


def test_error_envelope_for_unknown_paths(admin_api):
    status, body = admin_api.get("/api/v1/admin/nothing-here")
    assert (status, body["code"]) == (404, 404) and body["message"]


def test_method_not_allowed(admin_api):
    status, body = admin_api.call("patch", "/api/v1/admin/groups/all")
    assert (status, body["code"]) == (405, 405)


@pytest.mark.parametrize("path", [
    "/api/v1/admin/groups", "/api/v1/admin/accounts", "/api/v1/admin/users", "/api/v1/keys",
    "/api/v1/admin/groups/sort-order",
])
@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "12", "null", '{"name": "\\u0000"}'])
def test_malformed_bodies_are_400(admin_api, user_api, path, raw):
    api = user_api if path == "/api/v1/keys" else admin_api
    method = "put" if path.endswith("sort-order") else "post"
    status, body = api.call(method, path, raw=raw)
    assert (status, body["code"]) == (400, 400), body


@pytest.mark.parametrize("path", [
    "/api/v1/admin/groups/{}", "/api/v1/admin/accounts/{}", "/api/v1/admin/users/{}", "/api/v1/keys/{}",
    "/api/v1/admin/api-keys/{}", "/api/v1/admin/users/{}/balance", "/api/v1/admin/accounts/{}/clear-error",
])
@pytest.mark.parametrize("bad_id", ["abc", "-1", "0", "1.5", "99999999999999999999999", "%E2%91%A0"])
def test_non_numeric_ids_are_400(admin_api, user_api, path, bad_id):
    api = user_api if path.startswith("/api/v1/keys") else admin_api
    method = "post" if path.endswith(("balance", "clear-error")) else "get"
    status, body = api.call(method, path.format(bad_id))
    assert (status, body["code"]) == (400, 400), body
    assert body["message"].startswith("Invalid") and body["message"].endswith("ID")


@pytest.mark.parametrize("body", [
    {"name": 12}, {"name": None, "platform": ["anthropic"]}, {"name": "x", "rate_multiplier": {}},
    {"name": "x", "default_validity_days": 2**80}, {"name": "x", "fallback_group_id": "self"},
    {"name": "x", "model_routing": {"claude-*": "1"}}, {"name": "x", "daily_limit_usd": "1e999"},
])
def test_wrong_types_are_400(admin_api, body):
    status, answer = admin_api.post("/api/v1/admin/groups", body)
    assert (status, answer["code"]) == (400, 400), answer


def test_schema_generates(admin_api, client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/json") else None
    if schema is None:
        import yaml

        schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for path in ("/api/v1/admin/groups/sort-order", "/api/v1/admin/accounts/{id}/reset-quota", "/api/v1/keys/{id}",
                 "/api/v1/auth/login", "/api/v1/admin/users/{id}/balance", "/api/v1/admin/api-keys"):
        assert path in paths, sorted(paths)
    assert "adminApiKey" in schema["components"]["securitySchemes"]


def test_schema_generation_has_no_warnings_or_errors():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    GENERATOR_STATS.enable_trace_lineno()
    SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache


@pytest.mark.parametrize("path", [
    "/api/v1/admin/groups?search=%00", "/api/v1/admin/accounts?platform=a%00b", "/api/v1/admin/users?search=%00",
    "/api/v1/admin/api-keys?status=%00",
])
def test_nul_in_query_parameters_is_400(admin_api, path):
    status, body = admin_api.get(path)
    assert (status, body["code"]) == (400, 400)


def test_nul_in_model_routing_is_400(admin_api):
    status, body = admin_api.post("/api/v1/admin/groups", {"name": "x", "model_routing": {"claude\u0000": [1]}})
    assert status == 400 and body["message"].startswith("model_routing")
