"""A user's own usage over REST (never another user's rows, never the upstream model), and the gateway's
per-key GET /v1/usage (costs in dollars, RPM/TPM, per-model stats)."""

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from tests.api.conftest import data, token_api


@pytest.fixture
def two_users(world, make_log):
    make_log(world.alice, world.key_a1, model="claude-sonnet-4", upstream_model="us.anthropic.claude-sonnet-4-v1",
             account=world.account_a, actual_cost=Decimal("0.5"))
    make_log(world.alice, world.key_a2, model="claude-haiku-4-5", actual_cost=Decimal("0.25"), stream=True)
    make_log(world.bob, world.key_b, model="gpt-5", actual_cost=Decimal("7"))
    return world


def test_list_detail_and_stats_hold_only_the_callers_rows(two_users):
    alice, bob = token_api(two_users.alice), token_api(two_users.bob)
    mine = data(alice.get("/api/v1/usage"))
    assert mine["total"] == 2 and {r["user_id"] for r in mine["items"]} == {two_users.alice.pk}
    assert all("upstream_model" not in r and "account_id" not in r and "ip_address" not in r for r in mine["items"])
    bobs = data(bob.get("/api/v1/usage"))["items"][0]["id"]
    status, body = alice.get(f"/api/v1/usage/{bobs}")
    assert status == 404 and body["code"] == 404
    # a user_id or account_id in the query does not widen the view
    widened = data(alice.get(f"/api/v1/usage?user_id={two_users.bob.pk}&account_id={two_users.account_a.pk}"))
    assert widened["total"] == 2
    stats = data(alice.get("/api/v1/usage/stats"))
    assert stats["total_requests"] == 2 and stats["total_actual_cost"] == 0.75


def test_another_users_key_is_a_400(two_users):
    alice = token_api(two_users.alice)
    status, body = alice.get(f"/api/v1/usage?api_key_id={two_users.key_b.pk}")
    assert status == 400 and body["message"].startswith("api_key_id")
    assert data(alice.get(f"/api/v1/usage?api_key_id={two_users.key_a2.pk}"))["total"] == 1


def test_user_dashboard(two_users):
    alice = token_api(two_users.alice)
    stats = data(alice.get("/api/v1/usage/dashboard/stats"))
    assert stats["total_requests"] == stats["today_requests"] == 2 and "total_users" not in stats
    trend = data(alice.get("/api/v1/usage/dashboard/trend?granularity=hour"))["trend"]
    assert sum(p["requests"] for p in trend) == 2
    models = data(alice.get("/api/v1/usage/dashboard/models?model_source=upstream"))["models"]
    # users group by the model they asked for, whatever model_source says
    assert sorted(m["model"] for m in models) == ["claude-haiku-4-5", "claude-sonnet-4"]
    assert data(alice.get("/api/v1/usage/dashboard/trend?request_type=stream"))["trend"][0]["requests"] == 1
    status, body = alice.get("/api/v1/usage/dashboard/trend?start_date=nope")
    assert status == 400 and body["message"].startswith("start_date")


@pytest.mark.django_db(transaction=True)
def test_gateway_usage_reports_dollars_rates_and_models(gateway_url, make_log):
    from tests.live import make_setup

    setup = make_setup("http://upstream.invalid", balance="10")
    make_log(setup.user, setup.key, model="claude-sonnet-4", input_tokens=1000, output_tokens=0,
             total_cost=Decimal("0.0124488"), actual_cost=Decimal("0.0124488"))
    make_log(setup.user, setup.key, model="claude-haiku-4-5", input_tokens=500, output_tokens=0,
             total_cost=Decimal("0.001"), actual_cost=Decimal("0.002"),
             created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    response = httpx.get(gateway_url + "/v1/usage", headers={"x-api-key": setup.raw_key})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["usage"]["today"]["cost"] == 0.0124488
    assert report["usage"]["total"]["actual_cost"] == pytest.approx(0.0144488)
    assert report["rpm"] == 0.2 and report["tpm"] == 200.0
    # the last 30 days by default: the 40-day-old log is not in model_stats
    assert [(m["model"], m["requests"], m["cost"]) for m in report["model_stats"]] == [
        ("claude-sonnet-4", 1, 0.0124488)]
    old = (dt.date.today() - dt.timedelta(days=41)).isoformat()
    wide = httpx.get(f"{gateway_url}/v1/usage?start_date={old}", headers={"x-api-key": setup.raw_key}).json()
    assert {m["model"] for m in wide["model_stats"]} == {"claude-sonnet-4", "claude-haiku-4-5"}
    bad = httpx.get(f"{gateway_url}/v1/usage?end_date=31-12-2026", headers={"x-api-key": setup.raw_key})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("end_date")
