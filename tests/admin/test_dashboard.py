"""The admin index is a usage dashboard: cards, daily charts, the model distribution by requested /
upstream / mapping model, rankings, cost by group, account health and prompt-cache efficiency."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import FailedCharge, UsageLog

pytestmark = pytest.mark.django_db
D = Decimal
INDEX = "admin:index"


@pytest.fixture
def usage(admin_user, make_key, make_account, make_group):
    """Two groups, two accounts (one in error), two keys; a mapped model; cache reads and writes."""
    from users.models import User

    group_a, group_b = make_group("Team A"), make_group("Team B")
    good = make_account(name="pool-good")
    bad = make_account(name="pool-broken", status="error", error_message="401 invalid x-api-key")
    heavy_user = User.objects.create_user("heavy@example.com", "pw-heavy-123")
    key_a = make_key(name="ci", user=heavy_user, group=group_a)
    key_b = make_key(name="laptop", group=group_b)
    now = timezone.now()
    rows = [
        # key, account, group, model, upstream, input, output, read, w5m, w1h, actual, read cost, days ago
        (key_a, good, group_a, "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 1000, 200, 9000, 500, 0, "0.50",
         "0.0027", 0),
        (key_a, good, group_a, "sonnet-alias", "claude-sonnet-4-5-20250929", 100, 20, 0, 0, 800, "0.25", "0", 2),
        (key_b, bad, group_b, "claude-haiku-4-5", None, 50, 10, 0, 0, 0, "0.00004", "0", 1),
    ]
    for n, (key, account, group, model, upstream, inp, out, read, w5m, w1h, actual, read_cost, ago) in enumerate(rows):
        log = UsageLog.objects.create(
            request_id=f"d{n}", user=key.user, api_key=key, account=account, group=group, model=model,
            upstream_model=upstream, input_tokens=inp, output_tokens=out, cache_read_tokens=read,
            cache_creation_tokens=w5m + w1h, cache_creation_5m_tokens=w5m, cache_creation_1h_tokens=w1h,
            actual_cost=D(actual), total_cost=D(actual), cache_read_cost=D(read_cost))
        UsageLog.objects.filter(pk=log.pk).update(created_at=now - timedelta(days=ago))
    return {"keys": (key_a, key_b), "accounts": (good, bad), "user": heavy_user}


def chart(context, name):
    return json.loads(context["charts"][name])


def test_dashboard_cards_show_the_range_totals(client_admin, usage):
    FailedCharge.objects.create(request_id="x", payload={}, error="boom")
    FailedCharge.objects.create(request_id="y", payload={}, error="boom", resolved_at=timezone.now())
    response = client_admin.get(reverse(INDEX))
    assert response.status_code == 200
    cards = response.context["cards"]
    assert cards["requests"] == "3" and cards["today_requests"] == "1"
    assert cards["tokens"] == f"{1000 + 200 + 9000 + 500 + 100 + 20 + 800 + 50 + 10:,}"
    assert cards["charged"] == "$0.75"  # cards round to 4 places
    assert cards["failed_charges"] == 1
    page = response.content.decode()
    assert 'data-card="failed-charges"' in page
    assert cards["failed_charges_url"] in page.replace("&amp;", "&")
    failed_list = client_admin.get(cards["failed_charges_url"])
    assert [c.request_id for c in failed_list.context["cl"].result_list] == ["x"]


def test_daily_charts_have_a_point_per_day(client_admin, usage):
    context = client_admin.get(reverse(INDEX) + "?days=7").context
    requests = chart(context, "requests")
    assert len(requests["labels"]) == 7
    assert requests["datasets"][0]["data"][-3:] == [1, 1, 1]
    assert sum(requests["datasets"][0]["data"]) == 3
    cost = chart(context, "cost")
    # Amounts travel as exact decimal strings, never floats.
    assert cost["datasets"][0]["data"][-1] == "0.500000000"
    tokens = chart(context, "tokens")
    assert [d["label"] for d in tokens["datasets"]] == ["input", "output", "cache read", "cache write"]
    assert len(chart(client_admin.get(reverse(INDEX) + "?days=90").context, "requests")["labels"]) == 90
    # An unknown range falls back to the default 30 days.
    assert client_admin.get(reverse(INDEX) + "?days=abc").context["range_days"] == 30


def test_model_distribution_follows_the_model_source(client_admin, usage):
    context = client_admin.get(reverse(INDEX)).context
    assert chart(context, "models")["labels"] == ["claude-sonnet-4-5", "sonnet-alias", "claude-haiku-4-5"]
    by_source = context["models_by_source"]
    assert by_source["upstream"]["labels"] == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5"]
    assert set(by_source["mapping"]["labels"]) == {
        "claude-sonnet-4-5 -> claude-sonnet-4-5-20250929", "sonnet-alias -> claude-sonnet-4-5-20250929",
        "claude-haiku-4-5 -> claude-haiku-4-5"}
    upstream = client_admin.get(reverse(INDEX) + "?model_source=upstream").context
    assert chart(upstream, "models")["labels"] == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5"]
    assert upstream["model_source"] == "upstream"
    assert client_admin.get(reverse(INDEX) + "?model_source=bogus").context["model_source"] == "requested"


def test_rankings_groups_and_account_health(client_admin, usage):
    context = client_admin.get(reverse(INDEX)).context
    key_a, key_b = usage["keys"]
    assert [r["name"] for r in context["top_users"]] == ["heavy@example.com", "root@example.com"]
    assert context["top_users"][0]["cost"] == "$0.75"
    assert context["top_keys"][0]["name"] == "ci (heavy@example.com)"
    assert f"api_key__id__exact={key_a.pk}" in context["top_keys"][0]["logs_url"]
    assert [(g["name"], g["cost_display"]) for g in context["groups"]] == [("Team A", "$0.75"),
                                                                          ("Team B", "$0.00004")]
    assert chart(context, "groups")["datasets"][0]["data"] == ["0.750000000", "0.000040000"]
    health = context["accounts"]
    assert (health["healthy"], health["troubled"], health["total"]) == (1, 1, 2)
    broken = health["rows"][0]
    assert broken["name"] == "pool-broken" and not broken["healthy"] and "401" in broken["error"]
    assert broken["today"] == "$0.00" and broken["week"] == "$0.00004"


def test_prompt_cache_efficiency_per_model_and_account(client_admin, usage):
    context = client_admin.get(reverse(INDEX)).context
    by_model = {r["name"]: r for r in context["cache_models"]}
    sonnet = by_model["claude-sonnet-4-5"]
    # 9000 read of 1000 + 9000 + 500 prompt tokens
    assert sonnet["hit_rate"] == "85.7 %"
    assert sonnet["writes_5m"] == "500" and sonnet["writes_1h"] == "0"
    # 9000 tokens at $3 / MTok uncached = $0.027, they cost $0.0027: saved $0.0243
    assert sonnet["saved"] == "$0.0243"
    assert by_model["sonnet-alias"]["writes_1h"] == "800"
    by_account = {r["name"]: r for r in context["cache_accounts"]}
    assert by_account["pool-good"]["reads"] == "9,000" and by_account["pool-good"]["writes_1h"] == "800"
    page = client_admin.get(reverse(INDEX)).content.decode()
    assert 'id="cache-models"' in page and 'id="cache-accounts"' in page


def test_an_empty_dashboard_renders(client_admin):
    response = client_admin.get(reverse(INDEX))
    assert response.status_code == 200
    assert response.context["cards"]["requests"] == "0"
    assert "No usage in this range." in response.content.decode()


def test_the_dashboard_needs_an_admin(client):
    response = client.get(reverse(INDEX))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_dashboard_reads_the_same_from_rollups(client_admin, usage, admin_user):
    from usage.rollup import aggregate

    def numbers():
        context = client_admin.get(reverse(INDEX) + "?days=30").context
        return (context["cards"], context["charts"], context["models_by_source"], context["top_users"],
                context["top_keys"], context["groups"], context["cache_models"], context["cache_accounts"])

    raw = numbers()
    assert aggregate()["logs"] == 3
    # A log charged after the rollup is in the live tail and counted once.
    UsageLog.objects.create(request_id="late", user=admin_user, model="claude-haiku-4-5", actual_cost=D("0.1"))
    rolled = numbers()
    assert rolled[0]["requests"] == "4"
    UsageLog.objects.filter(request_id="late").delete()
    assert numbers() == raw
