"""/portal/usage/: the user's own requests (never the upstream model), charts per day and per model,
paging, CSV; another user's key or log id is a 404."""

import csv
import html
import io
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db
UPSTREAM = "SECRET-UPSTREAM"


def chart(page: str, testid: str) -> dict:
    match = re.search(rf'data-testid="{testid}" data-value="([^"]*)"', page)
    return json.loads(html.unescape(match.group(1)))


def test_the_page_lists_own_requests_without_the_upstream_model(person, other, make_key_for, make_log, signed_in):
    mine, theirs = make_key_for(person, name="mine"), make_key_for(other, name="theirs")
    make_log(person, mine, model="claude-haiku-4-5")
    make_log(other, theirs, model="their-model-xyz")
    page = signed_in(person).get("/portal/usage/").content.decode()
    assert "claude-haiku-4-5" in page and "mine" in page
    assert "their-model-xyz" not in page and "theirs" not in page
    assert UPSTREAM not in page


def test_charts_per_day_and_per_model(person, make_key_for, make_log, signed_in):
    key = make_key_for(person)
    now = timezone.now()
    make_log(person, key, model="claude-sonnet-4-5", actual_cost=Decimal("0.5"))
    make_log(person, key, model="claude-sonnet-4-5", actual_cost=Decimal("0.25"))
    make_log(person, key, model="claude-haiku-4-5", actual_cost=Decimal("0.125"), created_at=now - timedelta(days=2))
    page = signed_in(person).get("/portal/usage/?days=7").content.decode()
    by_day = chart(page, "chart-day")
    assert len(by_day["labels"]) == 7 and by_day["labels"][-1] == timezone.localdate().isoformat()
    assert by_day["datasets"][0]["data"][-1] == 2 and by_day["datasets"][0]["data"][-3] == 1
    assert by_day["datasets"][1]["data"][-1] == 0.75
    assert sum(by_day["datasets"][0]["data"]) == 3
    by_model = chart(page, "chart-model")
    assert dict(zip(by_model["labels"], by_model["datasets"][0]["data"], strict=True)) == {
        "claude-sonnet-4-5": 2, "claude-haiku-4-5": 1}
    assert re.search(r'data-testid="kpi-requests">3<', page)
    assert "$0.8750" in page


def test_the_period_and_the_key_narrow_the_charts(person, make_key_for, make_log, signed_in):
    first, second = make_key_for(person, name="first"), make_key_for(person, name="second")
    make_log(person, first)
    make_log(person, second)
    make_log(person, second, created_at=timezone.now() - timedelta(days=20))
    client = signed_in(person)
    assert sum(chart(client.get("/portal/usage/").content.decode(), "chart-day")["datasets"][0]["data"]) == 2
    thirty = chart(client.get("/portal/usage/?days=30").content.decode(), "chart-day")
    assert len(thirty["labels"]) == 30 and sum(thirty["datasets"][0]["data"]) == 3
    only_first = client.get(f"/portal/usage/?key={first.pk}&days=30").content.decode()
    assert sum(chart(only_first, "chart-day")["datasets"][0]["data"]) == 1
    assert len(re.findall(r"/portal/usage/\d+/", only_first)) == 1
    assert client.get("/portal/usage/?days=abc").status_code == 200  # an unknown period is the default


def test_the_table_pages(person, make_key_for, make_log, signed_in):
    key = make_key_for(person)
    for n in range(51):
        make_log(person, key, created_at=timezone.now() - timedelta(seconds=n))
    client = signed_in(person)
    first = client.get("/portal/usage/").content.decode()
    assert len(re.findall(r'href="/portal/usage/\d+/"', first)) == 50 and "Page 1 of 2" in first
    second = client.get("/portal/usage/?page=2").content.decode()
    assert len(re.findall(r'href="/portal/usage/\d+/"', second)) == 1


def test_csv_has_own_rows_and_no_upstream_model(person, other, make_key_for, make_log, signed_in):
    mine = make_key_for(person, name="mine")
    make_log(person, mine, input_tokens=123, actual_cost=Decimal("0.000000001"))
    make_log(other, make_key_for(other))
    response = signed_in(person).get("/portal/usage/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert UPSTREAM not in body and "upstream" not in body
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1
    assert (rows[0]["api_key"], rows[0]["input_tokens"], rows[0]["actual_cost_usd"]) == ("mine", "123", "0.000000001")


def test_detail_of_own_log_and_404_for_others(person, other, make_key_for, make_log, signed_in):
    mine = make_log(person, make_key_for(person))
    theirs = make_log(other, make_key_for(other))
    client = signed_in(person)
    page = client.get(f"/portal/usage/{mine.pk}/")
    assert page.status_code == 200 and mine.request_id in page.content.decode()
    assert UPSTREAM not in page.content.decode()
    assert client.get(f"/portal/usage/{theirs.pk}/").status_code == 404


def test_another_users_key_id_is_404_everywhere(person, other, make_key_for, signed_in):
    theirs = make_key_for(other)
    client = signed_in(person)
    for path in ("/portal/usage/", "/portal/usage/export.csv", "/portal/snippets/"):
        assert client.get(f"{path}?key={theirs.pk}").status_code == 404, path
        assert client.get(f"{path}?key=abc").status_code == 404, path


@pytest.mark.parametrize("path", [
    "/portal/usage/?key=99999999999999999999", "/portal/usage/export.csv?key=-1", "/portal/snippets/?key=1e3",
    "/portal/usage/99999999999999999999/", "/portal/usage/?key=%C2%B2",
])
def test_ids_that_cannot_exist_are_404(person, signed_in, path):
    assert signed_in(person).get(path).status_code == 404


@pytest.mark.parametrize("action", ["revoke", "reset"])
def test_key_ids_that_cannot_exist_are_404(person, signed_in, action):
    assert signed_in(person).post(f"/portal/keys/99999999999999999999/{action}/").status_code == 404


def test_odd_page_numbers_show_a_page(person, make_key_for, make_log, signed_in):
    make_log(person, make_key_for(person))
    client = signed_in(person)
    for page in ("abc", "-1", "99999999999999999999", "0"):
        assert client.get(f"/portal/usage/?page={page}").status_code == 200, page
        assert client.get(f"/portal/balance/?page={page}").status_code == 200, page
