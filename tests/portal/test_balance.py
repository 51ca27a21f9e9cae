"""/portal/balance/: the user's balance and every change of it (billing.balance's history), own only."""

import re
from decimal import Decimal

import pytest

from billing import balance

pytestmark = pytest.mark.django_db


def test_balance_and_history_newest_first(person, other, signed_in, django_user_model):
    operator = django_user_model.objects.create_superuser("ops@example.com", "pw-ops-12345")
    balance.adjust(person, Decimal("5.25"), kind="admin", note="welcome credit", actor=operator)
    balance.adjust(person, Decimal("-1.5"), kind="api", note="refund correction")
    balance.adjust(other, Decimal("99"), kind="admin", note="bob's top-up")
    page = signed_in(person).get("/portal/balance/").content.decode()
    assert re.search(r'data-testid="balance">\$13\.7500<', page)
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", page, re.S)
    assert len(rows) == 2
    assert "-1.5000" in rows[0] and "refund correction" in rows[0] and "$13.7500" in rows[0]
    assert "+5.2500" in rows[1] and "welcome credit" in rows[1] and "$15.2500" in rows[1]
    assert "bob&#x27;s top-up" not in page and "ops@example.com" not in page


def test_no_history_says_so(person, signed_in):
    assert "No balance changes yet." in signed_in(person).get("/portal/balance/").content.decode()


def test_the_history_pages(person, signed_in):
    for n in range(51):
        balance.adjust(person, Decimal("0.01"), kind="cli", note=f"n{n}")
    client = signed_in(person)
    assert "Page 1 of 2" in client.get("/portal/balance/").content.decode()
    assert len(re.findall(r"<tr>\s*<td>", client.get("/portal/balance/?page=2").content.decode())) == 1
