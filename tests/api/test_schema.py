"""What the OpenAPI schema says follows from the code: typed request bodies, the 200 envelope (never
204), error envelopes for 400/401/403/404/429, integer path ids."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                yield path, method, operation


def resolve(schema, ref_or_schema):
    if "$ref" in ref_or_schema:
        return schema["components"]["schemas"][ref_or_schema["$ref"].rsplit("/", 1)[1]]
    return ref_or_schema


def test_every_answer_is_a_200_envelope_and_errors_are_documented(schema):
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        assert "204" not in codes and "201" not in codes, (path, method)
        assert "200" in codes and "400" in codes, (path, method, codes)
        ok = resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
        assert {"code", "message"} <= set(ok["properties"]), (path, method)
        error = resolve(schema, operation["responses"]["400"]["content"]["application/json"]["schema"])
        assert set(error["properties"]) == {"code", "message", "reason"}
        if path != "/api/v1/auth/login":
            assert {"401", "403"} <= codes, (path, method)
        if "{id}" in path:
            assert "404" in codes, (path, method)
    login = schema["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"401", "429"} <= set(login)


def test_write_operations_document_their_bodies(schema):
    actions = ("reset-quota", "clear-error", "clear-rate-limit")
    for path, method, operation in operations(schema):
        if method in ("post", "put") and not path.endswith(actions):
            body = resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])
            assert body.get("properties"), (path, method)


def test_bodies_carry_types_and_column_ranges(schema):
    group = resolve(schema, schema["paths"]["/api/v1/admin/groups"]["post"]["requestBody"]["content"]
                    ["application/json"]["schema"])
    assert group["required"] == ["name"]
    assert float(group["properties"]["rate_multiplier"]["maximum"]) == 999999.9999
    assert group["properties"]["sort_order"]["maximum"] == 2**31 - 1
    update = resolve(schema, schema["paths"]["/api/v1/admin/groups/{id}"]["put"]["requestBody"]["content"]
                     ["application/json"]["schema"])
    assert not update.get("required")  # absent = unchanged
    balance = resolve(schema, schema["paths"]["/api/v1/admin/users/{id}/balance"]["post"]["requestBody"]
                      ["content"]["application/json"]["schema"])
    assert set(balance["properties"]) == {"balance", "operation", "notes"}
    assert sorted(balance["required"]) == ["balance", "operation"]


def test_path_ids_are_integers(schema):
    for path, _method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"]["type"] == "integer", path


def test_the_account_answer_marks_conditional_keys_optional(schema):
    account = schema["components"]["schemas"]["AccountOut"]
    assert "quota_daily_used" in account["properties"] and "quota_daily_used" not in account["required"]
    assert "auth_mode" not in account["required"] and "name" in account["required"]
    assert "api_key" not in account["properties"]  # secrets never leave
