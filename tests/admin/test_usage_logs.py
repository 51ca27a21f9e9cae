"""The usage-log admin: exact small costs, totals of the filtered set, the requested ↳ upstream model cell,
append-only records and the CSV export of the filtered set."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import UsageLog
from core.display import cost

pytestmark = pytest.mark.django_db
D = Decimal
LIST = "admin:billing_usagelog_changelist"
EXPORT = "admin:billing_usagelog_export"


@pytest.fixture
def make_log(admin_user):
    def make(**fields):
        fields.setdefault("request_id", f"req-{UsageLog.objects.count() + 1}")
        fields.setdefault("user", admin_user)
        fields.setdefault("model", "claude-sonnet-4-5")
        return UsageLog.objects.create(**fields)

    return make


def csv_rows(response):
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("amount,shown", [
    (D("0.0124488"), "$0.0124488"), (D("0.000000001"), "$0.000000001"), (D("12"), "$12.00"),
    (D("1.5"), "$1.50"), (None, "$0.00"), (D("1234.567800000"), "$1234.5678"),
])
def test_cost_keeps_every_significant_decimal(amount, shown):
    assert cost(amount) == shown


def test_cost_rounded_for_a_card_never_vanishes():
    assert cost(D("1234.567891234"), places=2) == "$1234.57"
    assert cost(D("0.000012345"), places=4) == "$0.000012345"
    assert cost(D(0), places=4) == "$0.00"


def test_small_costs_show_their_digits_and_the_model_cell_names_the_upstream(client_admin, make_log):
    make_log(model="claude-sonnet-4-5", upstream_model="claude-sonnet-4-5-20250929", total_cost=D("0.0124488"),
             actual_cost=D("0.00000731"))
    make_log(model="claude-haiku-4-5", upstream_model="claude-haiku-4-5", total_cost=D("0.2"))
    page = client_admin.get(reverse(LIST)).content.decode()
    assert "$0.0124488" in page and "$0.00000731" in page
    assert '↳ claude-sonnet-4-5-20250929' in page
    # Same model upstream: no arrow for it.
    assert page.count('sr-muted">↳ ') == 1
    assert "model (requested ↳ upstream)" in page and "API key" in page


def test_totals_are_those_of_the_filtered_set(client_admin, make_log):
    make_log(model="m-a", input_tokens=1000, output_tokens=200, cache_read_tokens=5000, total_cost=D("0.0000011"),
             actual_cost=D("0.000001"))
    make_log(model="m-a", input_tokens=10, output_tokens=2, total_cost=D("0.0000022"), actual_cost=D("0.000002"))
    make_log(model="m-b", input_tokens=999_999, total_cost=D("5"), actual_cost=D("5"))
    response = client_admin.get(reverse(LIST) + "?model=m-a")
    totals = response.context["usage_totals"]
    assert totals["requests"] == 2
    assert totals["tokens"] == 6212 and totals["cache_read_tokens"] == 5000
    assert totals["total_cost"] == D("0.0000033") and totals["actual_cost"] == D("0.000003")
    page = response.content.decode()
    assert 'data-total="total_cost">$0.0000033<' in page and 'data-total="tokens">6,212<' in page
    everything = client_admin.get(reverse(LIST)).context["usage_totals"]
    assert everything["requests"] == 3 and everything["total_cost"] == D("5.0000033")


def test_totals_of_an_empty_set_are_zero(client_admin):
    totals = client_admin.get(reverse(LIST)).context["usage_totals"]
    assert totals["requests"] == 0 and totals["tokens"] == 0 and totals["total_cost"] == D(0)


def test_usage_logs_cannot_be_added_edited_or_deleted(client_admin, make_log):
    log = make_log()
    page = client_admin.get(reverse(LIST)).content.decode()
    assert "delete_selected" not in page
    delete = reverse("admin:billing_usagelog_delete", args=[log.pk])
    assert client_admin.get(delete).status_code == 403
    assert client_admin.post(delete, {"post": "yes"}).status_code == 403
    assert client_admin.get(reverse("admin:billing_usagelog_add")).status_code == 403
    change = client_admin.get(reverse("admin:billing_usagelog_change", args=[log.pk])).content.decode()
    assert 'name="_save"' not in change and "deletelink" not in change
    response = client_admin.post(reverse(LIST), {"action": "delete_selected", "_selected_action": [log.pk],
                                                 "post": "yes"})
    assert response.status_code in (200, 302)
    assert UsageLog.objects.filter(pk=log.pk).exists()


def test_csv_exports_the_filtered_set_with_exact_amounts(client_admin, make_log):
    make_log(model="m-a", upstream_model="m-a-up", total_cost=D("0.000000001"), actual_cost=D("0.0124488"),
             input_tokens=3, cache_creation_1h_tokens=7)
    make_log(model="m-b", total_cost=D("1"))
    page = client_admin.get(reverse(LIST) + "?model=m-a").content.decode()
    assert reverse(EXPORT) + "?model=m-a" in page
    rows = csv_rows(client_admin.get(reverse(EXPORT) + "?model=m-a"))
    assert len(rows) == 1
    row = rows[0]
    assert row["model"] == "m-a" and row["upstream_model"] == "m-a-up" and row["user"] == "root@example.com"
    assert row["total_cost"] == "0.000000001" and row["actual_cost"] == "0.012448800"
    assert row["input_tokens"] == "3" and row["cache_creation_1h_tokens"] == "7"
    assert len(csv_rows(client_admin.get(reverse(EXPORT)))) == 2


def test_csv_export_follows_search_and_date(client_admin, make_log):
    old = make_log(request_id="old-one")
    UsageLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    make_log(request_id="new-one")
    year = timezone.now().year
    assert [r["request_id"] for r in csv_rows(client_admin.get(reverse(EXPORT) + "?q=old-one"))] == ["old-one"]
    dated = csv_rows(client_admin.get(reverse(EXPORT) + f"?created_at__year={year}"))
    assert "new-one" in [r["request_id"] for r in dated] and "old-one" not in [r["request_id"] for r in dated]


def test_csv_cells_never_start_a_spreadsheet_formula(client_admin, make_log):
    make_log(model="=HYPERLINK(\"http://x\")", request_id="+1")
    row = csv_rows(client_admin.get(reverse(EXPORT)))[0]
    assert row["model"].startswith("'=") and row["request_id"] == "'+1"


def test_csv_export_needs_the_admin(client, make_log):
    make_log()
    response = client.get(reverse(EXPORT))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_csv_export_with_an_unknown_filter_is_a_400(client_admin, make_log):
    make_log()
    response = client_admin.get(reverse(EXPORT) + "?no_such_field=1")
    assert response.status_code == 400
