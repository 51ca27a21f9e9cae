"""The shipped price table in the admin: read-only rows, the admin's overrides marked."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing import prices
from billing.models import ModelPrice

pytestmark = pytest.mark.django_db
LIST = "admin:billing_modelprice_changelist"


def shipped_rows(client_admin):
    return {row["model"]: row for row in client_admin.get(reverse(LIST)).context["shipped_prices"]}


def test_every_built_in_price_is_listed_with_its_rates(client_admin):
    rows = shipped_rows(client_admin)
    assert set(rows) == set(prices.SHIPPED)
    assert rows["claude-sonnet-4-5"]["prices"] == ["$3.00", "$15.00", "$0.30", "$3.75", "$6.00"]
    assert rows["gemini-2-5-pro"]["long_context"].startswith("above 200,000 tokens")
    assert all(row["override"] is None for row in rows.values())
    page = client_admin.get(reverse(LIST)).content.decode()
    assert 'id="shipped-prices"' in page and 'data-model="gpt-4o-mini"' in page


def test_an_admin_price_marks_the_built_in_rows_it_replaces(client_admin):
    mine = ModelPrice.objects.create(model="claude-sonnet-4-5", input=Decimal(2), output=Decimal(9))
    # A dated name normalises onto the built-in entry it replaces.
    ModelPrice.objects.create(model="gpt-4o-2024-08-06", input=Decimal(1), output=Decimal(1))
    ModelPrice.objects.create(model="my-own-model", input=Decimal(1), output=Decimal(1))
    rows = shipped_rows(client_admin)
    assert rows["claude-sonnet-4-5"]["override"] == "claude-sonnet-4-5"
    assert rows["claude-sonnet-4-5"]["override_url"] == reverse("admin:billing_modelprice_change", args=[mine.pk])
    assert rows["claude-sonnet-4"]["override"] is None
    page = client_admin.get(reverse(LIST)).content.decode()
    assert page.count("sr-overridden") == 1
    assert prices.shipped_entry("gpt-4o-2024-08-06") == "gpt-4o"
    assert prices.shipped_entry("my-own-model") is None
    assert "none (a model the table lacks)" in page


def test_override_link_starts_the_form_from_the_built_in_price(client_admin):
    url = shipped_rows(client_admin)["claude-haiku-4-5"]["add_url"]
    form = client_admin.get(url).context["adminform"].form
    assert form.initial["model"] == "claude-haiku-4-5"
    assert Decimal(form.initial["cache_write_1h"]) == Decimal(2)


def test_the_built_in_table_cannot_be_edited_from_the_page(client_admin):
    page = client_admin.get(reverse(LIST)).content.decode()
    start = page.index('id="shipped-prices"')
    section = page[start:page.index("</table>", start)]
    assert "<input" not in section and "<form" not in section
