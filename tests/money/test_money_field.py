"""Money is exact on both engines: Decimal in Python, integer nano-dollars in the database."""

import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections
from django.db.models import F

from core.money import from_nanos, nanos, to_decimal
from users.models import User


def test_amounts_convert_exactly():
    assert nanos("0.000000001") == 1
    assert nanos(Decimal("12.345678901")) == 12_345_678_901
    assert nanos(0.1) == 100_000_000  # float input goes through its shortest repr, not 0.1000000000000000055
    assert from_nanos(nanos("1234567.123456789")) == Decimal("1234567.123456789")


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-inf", "abc", "", "1e30", -10**12])
def test_non_finite_or_garbage_is_refused(bad):
    with pytest.raises(ValueError):
        to_decimal(bad)


@pytest.mark.django_db
def test_field_round_trips_decimal_without_float_drift():
    user = User.objects.create_user("m@example.com", "pw-123456", balance=Decimal("0.1"))
    User.objects.filter(pk=user.pk).update(balance=F("balance") + nanos("0.2"))
    user.refresh_from_db()
    assert user.balance == Decimal("0.3")  # 0.1 + 0.2 == 0.30000000000000004 in floats
    assert isinstance(user.balance, Decimal)
    assert User.objects.filter(balance=Decimal("0.3")).exists()
    assert User.objects.filter(balance__gt=Decimal("0.299999999")).exists()


@pytest.mark.django_db(transaction=True)
def test_200_parallel_increments_sum_exactly():
    """Runs on SQLite in the embedded suite and on PostgreSQL in the production suite."""
    user = User.objects.create_user("p@example.com", "pw-123456", balance=Decimal("0"))
    step = nanos("0.000000007")  # a value with no exact binary float representation
    errors = []

    def charge():
        try:
            User.objects.filter(pk=user.pk).update(balance=F("balance") + step)
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=charge) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    user.refresh_from_db()
    assert user.balance == Decimal("0.000001400")
