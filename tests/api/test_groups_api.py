"""Admin group API: S6 ordering and the batch sort-order update, CRUD, key-cache invalidation."""

import pytest

from groups.models import Group
from tests.api.conftest import data

pytestmark = pytest.mark.django_db


@pytest.fixture
def abc(make_group):
    return make_group("A", sort_order=10), make_group("B", sort_order=0), make_group("C", sort_order=0)


def names(admin_api, path="/api/v1/admin/groups"):
    body = data(admin_api.get(path))
    return [g["name"] for g in (body["items"] if isinstance(body, dict) else body)]


def test_s6_1_lists_follow_sort_order_then_id(admin_api, abc):
    assert names(admin_api) == ["B", "C", "A"]
    assert names(admin_api, "/api/v1/admin/groups/all") == ["B", "C", "A"]


def test_s6_2_batch_update(admin_api, abc):
    a, b, c = abc
    body = data(admin_api.put("/api/v1/admin/groups/sort-order", {"updates": [
        {"id": c.pk, "sort_order": 0}, {"id": b.pk, "sort_order": 10}, {"id": a.pk, "sort_order": 20},
    ]}))
    assert body == {"message": "Sort order updated successfully"}
    assert names(admin_api) == ["C", "B", "A"]


@pytest.mark.parametrize("body", [
    {"updates": []}, {}, {"updates": [{"sort_order": 5}]}, {"updates": "x"}, {"updates": [{"id": "1"}]},
    {"updates": [{"id": 0, "sort_order": 1}]}, {"updates": [5]}, [],
])
def test_s6_3_invalid_bodies_are_400(admin_api, abc, body):
    status, answer = admin_api.put("/api/v1/admin/groups/sort-order", body)
    assert status == 400 and answer["code"] == 400, answer
    assert answer["message"].startswith("Invalid request")


def test_s6_4_unknown_id_is_404_and_nothing_changes(admin_api, abc):
    a = abc[0]
    status, body = admin_api.put("/api/v1/admin/groups/sort-order", {"updates": [
        {"id": a.pk, "sort_order": 99}, {"id": 99999, "sort_order": 1},
    ]})
    assert (status, body["code"], body["reason"]) == (404, 404, "GROUP_NOT_FOUND")
    a.refresh_from_db()
    assert a.sort_order == 10


def test_s6_5_duplicates_last_wins_and_non_positive_ids_are_ignored(admin_api, abc):
    b = abc[1]
    data(admin_api.put("/api/v1/admin/groups/sort-order", {"updates": [
        {"id": b.pk, "sort_order": 10}, {"id": -3, "sort_order": 1}, {"id": b.pk, "sort_order": 15},
    ]}))
    b.refresh_from_db()
    assert b.sort_order == 15


def test_sort_order_is_one_update_statement(admin_api, abc):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, b, c = abc
    with CaptureQueriesContext(connection) as queries:
        data(admin_api.put("/api/v1/admin/groups/sort-order", {"updates": [
            {"id": a.pk, "sort_order": 1}, {"id": b.pk, "sort_order": 2}, {"id": c.pk, "sort_order": 3},
        ]}))
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "groups_group" in updates[0]


def test_s6_7_new_group_has_sort_order_0_and_comes_first(admin_api, abc):
    body = data(admin_api.post("/api/v1/admin/groups", {"name": "New", "platform": "openai"}))
    assert body["sort_order"] == 0 and body["platform"] == "openai"
    assert names(admin_api)[:2] == ["B", "C"] and names(admin_api)[2] == "New"  # 0, then by id


def test_all_lists_only_active_groups(admin_api, make_group):
    make_group("on")
    make_group("off", status=Group.Status.INACTIVE)
    assert names(admin_api, "/api/v1/admin/groups/all") == ["on"]
    assert sorted(names(admin_api)) == ["off", "on"]


def test_group_crud(admin_api):
    created = data(admin_api.post("/api/v1/admin/groups", {
        "name": "pro", "platform": "anthropic", "rate_multiplier": 1.5, "is_exclusive": True,
        "description": "paid", "subscription_type": "subscription", "daily_limit_usd": 20,
    }))
    assert created["rate_multiplier"] == 1.5 and created["is_exclusive"] is True
    assert created["daily_limit_usd"] == 20 and created["account_count"] == 0
    path = f"/api/v1/admin/groups/{created['id']}"
    updated = data(admin_api.put(path, {"rate_multiplier": "2", "daily_limit_usd": None, "sort_order": -5}))
    assert (updated["rate_multiplier"], updated["daily_limit_usd"], updated["sort_order"]) == (2, None, -5)
    assert updated["description"] == "paid"  # absent fields stay
    assert data(admin_api.get(path))["name"] == "pro"
    data(admin_api.delete(path))
    assert admin_api.get(path)[0] == 404


@pytest.mark.parametrize("body, field", [
    ({"platform": "anthropic"}, "name"),
    ({"name": "x", "platform": "sora"}, "platform"),
    ({"name": "x", "rate_multiplier": -1}, "rate_multiplier"),
    ({"name": "x", "rate_multiplier": "NaN"}, "rate_multiplier"),
    ({"name": "x", "sort_order": 1e20}, "sort_order"),
    ({"name": "x", "is_exclusive": "yes"}, "is_exclusive"),
    ({"name": "x" * 101}, "name"),
    ({"name": "x", "model_routing": {"gpt*5": [1]}}, "model_routing"),
])
def test_invalid_group_bodies(admin_api, body, field):
    status, answer = admin_api.post("/api/v1/admin/groups", body)
    assert status == 400 and answer["message"].startswith(f"{field}:"), answer


def test_duplicate_name_is_409(admin_api, make_group):
    make_group("taken")
    status, body = admin_api.post("/api/v1/admin/groups", {"name": "taken"})
    assert status == 409 and body["reason"] == "GROUP_EXISTS"
