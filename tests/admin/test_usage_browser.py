"""The usage dashboard and the usage-log export in a real browser (Debian's chromium via Playwright):
the charts draw their data, the model-source toggle swaps the models chart, the CSV downloads."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture
def logs(make_account, make_group):
    from billing.models import UsageLog
    from users.models import User

    user = User.objects.create_user("dev@example.com", "pw-dev-12345")
    group = make_group("Team A")
    account = make_account(name="pool-1")
    now = timezone.now()
    for n in range(6):
        log = UsageLog.objects.create(
            request_id=f"b{n}", user=user, account=account, group=group, model="sonnet-alias" if n % 2 else "opus",
            upstream_model="claude-sonnet-4-5-20250929" if n % 2 else "claude-opus-4-6", input_tokens=100 * (n + 1),
            output_tokens=10, cache_read_tokens=50 * n, actual_cost=D("0.0000123") * (n + 1),
            total_cost=D("0.0000123") * (n + 1))
        UsageLog.objects.filter(pk=log.pk).update(created_at=now - timedelta(days=n))
    return user


def chart_state(page, canvas_id):
    return page.evaluate("""(id) => {
        const canvas = document.getElementById(id);
        const chart = Chart.getChart(canvas);
        const blank = document.createElement("canvas");
        blank.width = canvas.width; blank.height = canvas.height;
        return {labels: chart.data.labels, data: chart.data.datasets.map((d) => d.data.map(Number)),
                width: canvas.width, drawn: canvas.toDataURL() !== blank.toDataURL()};
    }""", canvas_id)


def test_dashboard_charts_render_with_data(admin_page, logs):
    page = admin_page
    page.goto(f"{page.base}/admin/?days=7")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-cost'))")
    for canvas in ("chart-requests", "chart-tokens", "chart-cost", "chart-models", "chart-groups"):
        state = chart_state(page, canvas)
        assert state["width"] > 0 and state["drawn"], canvas
        assert any(value > 0 for series in state["data"] for value in series), canvas
    requests = chart_state(page, "chart-requests")
    assert len(requests["labels"]) == 7 and sum(requests["data"][0]) == 6
    assert page.locator("[data-card=requests]").inner_text() == "6"


def test_model_source_toggle_changes_the_chart(admin_page, logs):
    page = admin_page
    page.goto(f"{page.base}/admin/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-models'))")
    assert sorted(chart_state(page, "chart-models")["labels"]) == ["opus", "sonnet-alias"]
    page.evaluate("() => { window.samePage = true; }")
    page.click("[data-model-source=upstream]")
    assert sorted(chart_state(page, "chart-models")["labels"]) == ["claude-opus-4-6", "claude-sonnet-4-5-20250929"]
    assert page.locator("[data-model-source=upstream]").get_attribute("aria-pressed") == "true"
    assert page.locator("[data-model-table=upstream]").is_visible()
    assert not page.locator("[data-model-table=requested]").is_visible()
    assert "model_source=upstream" in page.url
    assert page.evaluate("() => window.samePage === true"), "the toggle swaps the chart in place"
    page.click("[data-model-source=mapping]")
    assert sorted(chart_state(page, "chart-models")["labels"]) == [
        "opus -> claude-opus-4-6", "sonnet-alias -> claude-sonnet-4-5-20250929"]
    assert "model_source=mapping" in page.locator("#range-toggle a").first.get_attribute("href")
    # The choice survives a reload (server-rendered from the URL).
    page.reload()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-models'))")
    assert chart_state(page, "chart-models")["labels"][0] == "sonnet-alias -> claude-sonnet-4-5-20250929"
    assert page.locator("[data-model-source=mapping]").get_attribute("aria-pressed") == "true"


def test_usage_log_csv_downloads_the_filtered_set(admin_page, logs):
    page = admin_page
    page.goto(f"{page.base}/admin/billing/usagelog/?model=opus")
    assert page.locator("[data-total=requests]").inner_text() == "3"
    with page.expect_download() as info:
        page.click("#usage-export-csv")
    download = info.value
    assert download.suggested_filename.startswith("usage-logs-") and download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    assert sorted(r["request_id"] for r in rows) == ["b0", "b2", "b4"]
    assert {r["upstream_model"] for r in rows} == {"claude-opus-4-6"}
    assert sorted(r["actual_cost"] for r in rows) == ["0.000012300", "0.000036900", "0.000061500"]
