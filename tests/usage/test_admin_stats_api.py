"""The admin statistics endpoints: S2's model_source checks 1-9, bad parameters, the cache, the numbers."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.test import Client

from tests.api.conftest import Api, data, token_api

MODELS = "/api/v1/admin/dashboard/models"
BREAKDOWN = "/api/v1/admin/dashboard/user-breakdown"
S2_MESSAGE = "Invalid model_source, use requested/upstream/mapping"


def rows(result, field="models", name="model"):
    return {row[name]: row["requests"] for row in data(result)[field]}


def test_s2_1_default_source_groups_by_requested_model(admin_api, s2_logs):
    assert rows(admin_api.get(MODELS)) == {"claude-sonnet-4": 5}


def test_s2_2_upstream_source(admin_api, s2_logs):
    assert rows(admin_api.get(MODELS + "?model_source=upstream")) == {
        "claude-sonnet-4": 3, "us.anthropic.claude-sonnet-4-v1": 2}


def test_s2_3_mapping_source(admin_api, s2_logs):
    assert rows(admin_api.get(MODELS + "?model_source=mapping")) == {
        "claude-sonnet-4 -> claude-sonnet-4": 3, "claude-sonnet-4 -> us.anthropic.claude-sonnet-4-v1": 2}


@pytest.mark.parametrize("value", ["MAPPING", "foo"])
def test_s2_4_invalid_source_is_a_400_with_the_exact_message(admin_api, s2_logs, value):
    status, body = admin_api.get(f"{MODELS}?model_source={value}")
    assert status == 400 and body == {"code": 400, "message": S2_MESSAGE}
    status, body = admin_api.get(f"{BREAKDOWN}?model_source={value}")
    assert status == 400 and body["message"] == S2_MESSAGE


def test_s2_5_empty_source_models_ok_breakdown_400(admin_api, s2_logs):
    assert rows(admin_api.get(MODELS + "?model_source=")) == {"claude-sonnet-4": 5}
    assert rows(admin_api.get(MODELS + "?model_source=%20upstream%20")) == {
        "claude-sonnet-4": 3, "us.anthropic.claude-sonnet-4-v1": 2}  # trimmed
    status, body = admin_api.get(BREAKDOWN + "?model_source=")
    assert status == 400 and body["message"] == S2_MESSAGE
    assert data(admin_api.get(BREAKDOWN))["users"]  # absent: requested


def test_s2_6_sources_never_share_a_cache_entry(admin_api, s2_logs):
    first = admin_api.client.get(MODELS + "?model_source=requested", headers=admin_api.headers)
    again = admin_api.client.get(MODELS + "?model_source=requested", headers=admin_api.headers)
    other = admin_api.client.get(MODELS + "?model_source=upstream", headers=admin_api.headers)
    assert first["X-Snapshot-Cache"] == "miss" and again["X-Snapshot-Cache"] == "hit"
    assert other["X-Snapshot-Cache"] == "miss"
    assert len(other.json()["data"]["models"]) == 2 != len(first.json()["data"]["models"])
    # absent and blank normalise to the same source: the same entry
    blank = admin_api.client.get(MODELS + "?model_source=", headers=admin_api.headers)
    assert blank["X-Snapshot-Cache"] == "hit"
    # every other filter is part of the key too
    narrowed = admin_api.client.get(f"{MODELS}?user_id={s2_logs.alice.pk}", headers=admin_api.headers)
    assert narrowed["X-Snapshot-Cache"] == "miss" and narrowed.json()["data"]["models"][0]["requests"] == 3


def test_s2_7_breakdown_model_filter_uses_the_source_expression(admin_api, s2_logs):
    result = admin_api.get(f"{BREAKDOWN}?model=claude-sonnet-4&model_source=upstream")
    assert {u["email"]: u["requests"] for u in data(result)["users"]} == {"alice@example.com": 3}
    result = admin_api.get(f"{BREAKDOWN}?model=claude-sonnet-4 -> us.anthropic.claude-sonnet-4-v1&model_source=mapping")
    assert {u["email"]: u["requests"] for u in data(result)["users"]} == {"bob@example.com": 2}
    result = admin_api.get(f"{BREAKDOWN}?model=claude-sonnet-4")
    assert {u["email"]: u["requests"] for u in data(result)["users"]} == {"alice@example.com": 3, "bob@example.com": 2}


@pytest.mark.django_db(transaction=True)
def test_s2_8_the_charge_stores_upstream_model_only_when_it_differs():
    from apikeys.models import ApiKey
    from billing.charge import ChargeRequest, charge
    from billing.cost import Usage
    from tests.live import make_setup

    setup = make_setup("http://upstream.invalid", balance="10")
    key = ApiKey.objects.get(pk=setup.key.pk)

    def log(upstream):
        return charge(ChargeRequest(
            request_id=f"client:{uuid.uuid4()}", api_key_id=key.pk, key_hash=key.key_hash, key_quota=key.quota,
            user_id=setup.user.pk, group_id=setup.group.pk, account=setup.account, model="claude-sonnet-4-5",
            usage=Usage(input_tokens=10), rate_multiplier=setup.group.rate_multiplier, upstream_model=upstream,
        ))

    assert log("claude-sonnet-4-5").upstream_model is None
    assert log("claude-sonnet-4-5-b").upstream_model == "claude-sonnet-4-5-b"


def test_s2_9_users_never_see_upstream_model_admins_do_when_it_differs(admin_api, s2_logs):
    bob = token_api(s2_logs.bob)
    own = data(bob.get("/api/v1/usage"))["items"]
    assert len(own) == 2 and all("upstream_model" not in row and "account_id" not in row for row in own)
    detail = data(bob.get(f"/api/v1/usage/{own[0]['id']}"))
    assert "upstream_model" not in detail
    admin_rows = data(admin_api.get("/api/v1/admin/usage"))["items"]
    assert sorted(row.get("upstream_model", "-") for row in admin_rows) == [
        "-", "-", "-", "us.anthropic.claude-sonnet-4-v1", "us.anthropic.claude-sonnet-4-v1"]


@pytest.mark.parametrize("path", [
    "trend", "models", "groups", "user-breakdown", "users-ranking", "api-keys-trend",
])
@pytest.mark.parametrize(("query", "names"), [
    ("start_date=2026-13-01", "start_date"),
    ("end_date=yesterday", "end_date"),
    ("start_date=2026-05-10&end_date=2026-05-01", "end_date"),
    ("start_date=2025-01-01&end_date=2026-01-02", "end_date"),
    ("timezone=Mars/Olympus", "timezone"),
])
def test_bad_dates_are_a_400_naming_the_parameter(admin_api, world, path, query, names):
    status, body = admin_api.get(f"/api/v1/admin/dashboard/{path}?{query}")
    assert status == 400 and body["message"].startswith(names), body


@pytest.mark.parametrize(("query", "name"), [
    ("granularity=week", "granularity"), ("user_id=999999", "user_id"), ("api_key_id=abc", "api_key_id"),
    ("account_id=999999", "account_id"), ("group_id=0", "group_id"), ("billing_type=7", "billing_type"),
    ("request_type=batch", "request_type"),
])
def test_bad_filters_are_a_400_naming_the_parameter(admin_api, world, query, name):
    status, body = admin_api.get(f"/api/v1/admin/dashboard/trend?{query}")
    assert status == 400 and body["message"].startswith(name), body


def test_a_366_day_range_is_allowed(admin_api, world):
    assert data(admin_api.get("/api/v1/admin/dashboard/trend?start_date=2025-01-01&end_date=2026-01-01"))


def test_trend_by_day_and_hour_in_the_requested_zone(admin_api, world, make_log):
    # 23:30 UTC on 2026-03-01 is 07:30 on 2026-03-02 in Shanghai
    moment = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    make_log(world.alice, world.key_a1, created_at=moment, total_cost=Decimal("0.000000123"),
             actual_cost=Decimal("0.000000246"))
    query = "start_date=2026-03-01&end_date=2026-03-02"
    utc = data(admin_api.get(f"/api/v1/admin/dashboard/trend?{query}"))
    assert [(p["date"], p["requests"], p["cost"], p["actual_cost"]) for p in utc["trend"]] == [
        ("2026-03-01", 1, 0.000000123, 0.000000246)]
    shanghai = data(admin_api.get(f"/api/v1/admin/dashboard/trend?{query}&timezone=Asia/Shanghai&granularity=hour"))
    assert [p["date"] for p in shanghai["trend"]] == ["2026-03-02 07:00"]
    assert (shanghai["start_date"], shanghai["end_date"]) == ("2026-03-01", "2026-03-02")


def test_trend_filters(admin_api, world, make_log):
    make_log(world.alice, world.key_a1, account=world.account_a, stream=True)
    make_log(world.bob, world.key_b, account=world.account_b, billing_type=1)

    def requests(query):
        return sum(p["requests"] for p in data(admin_api.get(f"/api/v1/admin/dashboard/trend?{query}"))["trend"])

    assert requests("") == 2
    assert requests(f"user_id={world.alice.pk}") == 1
    assert requests(f"api_key_id={world.key_b.pk}") == 1
    assert requests(f"account_id={world.account_a.pk}") == 1
    assert requests(f"group_id={world.group_a.pk}") == 2
    assert requests("request_type=stream") == requests("stream=true") == 1
    assert requests("billing_type=1") == 1
    assert requests("model=other") == 0


def test_account_only_filter_reports_the_account_cost(admin_api, world, make_log):
    make_log(world.alice, world.key_a1, account=world.account_a, total_cost=Decimal("1"), actual_cost=Decimal("2"),
             account_rate_multiplier=Decimal("0.5"))
    (row,) = data(admin_api.get(f"{MODELS}?account_id={world.account_a.pk}"))["models"]
    assert (row["cost"], row["actual_cost"]) == (1.0, 0.5)
    (row,) = data(admin_api.get(MODELS))["models"]
    assert row["actual_cost"] == 2.0


def test_groups_ranking_keys_trend_and_stats(admin_api, world, make_log):
    make_log(world.alice, world.key_a1, actual_cost=Decimal("0.3"), status=500)
    make_log(world.alice, world.key_a2, actual_cost=Decimal("0.1"))
    make_log(world.bob, world.key_b, actual_cost=Decimal("0.5"))
    groups = data(admin_api.get("/api/v1/admin/dashboard/groups"))["groups"]
    assert [(g["group_name"], g["requests"], g["actual_cost"]) for g in groups] == [("ga", 2, 0.8), ("gb", 1, 0.1)]
    ranking = data(admin_api.get("/api/v1/admin/dashboard/users-ranking?limit=1"))["ranking"]
    assert [(u["email"], u["actual_cost"]) for u in ranking] == [("bob@example.com", 0.5)]
    trend = data(admin_api.get("/api/v1/admin/dashboard/api-keys-trend?limit=2"))["trend"]
    assert [(p["key_name"], p["requests"]) for p in trend] == [("b", 1), ("a1", 1)]
    stats = data(admin_api.get("/api/v1/admin/dashboard/stats"))
    assert (stats["total_requests"], stats["today_requests"], stats["today_errors"]) == (3, 3, 1)
    assert stats["total_users"] == 2 and stats["total_api_keys"] == 3 and stats["total_accounts"] == 2
    assert stats["rpm"] == 0.6 and stats["tpm"] == 90.0  # 3 requests of 150 tokens in 5 minutes
    usage = data(admin_api.get(f"/api/v1/admin/usage/stats?user_id={world.alice.pk}"))
    assert usage["total_requests"] == 2 and usage["total_actual_cost"] == 0.4


def test_admin_usage_list_filters_and_pages(admin_api, world, make_log):
    for _ in range(3):
        make_log(world.alice, world.key_a1)
    make_log(world.bob, world.key_b)
    page = data(admin_api.get(f"/api/v1/admin/usage?user_id={world.alice.pk}&page_size=2"))
    assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 2)
    assert page["items"][0]["user_email"] == "alice@example.com"
    old = data(admin_api.get("/api/v1/admin/usage?start_date=2020-01-01&end_date=2020-01-31"))
    assert old["total"] == 0


def test_backfill_rebuilds_and_refuses_bad_input(admin_api, world, make_log):
    from usage.models import DailyUsage

    make_log(world.alice, world.key_a1)
    today = dt.date.today().isoformat()
    result = data(admin_api.post("/api/v1/admin/dashboard/aggregation/backfill", {"start_date": today}))
    assert result["logs"] == 1 and DailyUsage.objects.get().requests == 1
    status, body = admin_api.post("/api/v1/admin/dashboard/aggregation/backfill", {"start_date": "soon"})
    assert status == 400 and body["message"].startswith("start_date")
    status, body = admin_api.post("/api/v1/admin/dashboard/aggregation/backfill", {})
    assert status == 400 and body["message"].startswith("start_date")


def test_users_cannot_call_admin_statistics(s2_logs):
    alice = token_api(s2_logs.alice)
    status, body = alice.get(MODELS)
    assert status == 403
    assert Api(Client()).get(MODELS)[0] == 401
