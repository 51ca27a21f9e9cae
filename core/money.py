"""Exact money: US dollars held as integer nano-dollars.

Python code sees `Decimal` dollars; the database holds a BIGINT of nano-dollars, so SQLite never turns
an amount into a float and `F()` arithmetic is integer arithmetic on both engines. Expressions work
in nano-dollars: write `F("balance") - nanos(cost)`, never `F("balance") - cost`.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core import checks, exceptions
from django.db import models
from django.forms import DecimalField as DecimalFormField

NANOS_PER_USD = 10**9
QUANTUM = Decimal("0.000000001")
# A BIGINT of nano-dollars holds up to about 9.2 billion dollars.
MAX_AMOUNT = Decimal(2**63 - 1) / NANOS_PER_USD


def to_decimal(value) -> Decimal:
    """Dollars from an int, str, Decimal or float; refuse NaN and infinity."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # the shortest repr, not the binary expansion
    else:
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"amount out of range: {value!r}")
    return amount.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def nanos(value) -> int:
    """Nano-dollars of an amount, for use inside F() expressions."""
    return int(to_decimal(value) * NANOS_PER_USD)


def from_nanos(value: int) -> Decimal:
    return (Decimal(int(value)) / NANOS_PER_USD).quantize(QUANTUM)


class MoneyField(models.BigIntegerField):
    description = "US dollars, stored exactly as integer nano-dollars"

    def check(self, **kwargs):
        return [*super().check(**kwargs), *self._check_default()]

    def _check_default(self):
        if isinstance(self.default, float):
            return [checks.Error("MoneyField default must not be a float", obj=self)]
        return []

    def from_db_value(self, value, expression, connection):
        return None if value is None else from_nanos(value)

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        try:
            return to_decimal(value)
        except ValueError as exc:
            raise exceptions.ValidationError(str(exc), code="invalid") from exc

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return nanos(value)

    def formfield(self, **kwargs):
        return models.Field.formfield(
            self, **{"form_class": DecimalFormField, "max_digits": 20, "decimal_places": 9, **kwargs}
        )


def usd(value: Decimal | None, places: int = 2) -> str:
    """'$1.23' for display."""
    return f"${(value or Decimal(0)).quantize(Decimal(1).scaleb(-places))}"
