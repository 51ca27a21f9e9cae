"""What a column can hold, as validators on the model field: the one home of numeric ranges.

`@within_columns` on a model gives every numeric field exactly one MinValueValidator and one
MaxValueValidator: the range its column type holds, narrowed by the bounds the model already states
(`validators=[MinValueValidator(0)]`). ModelForms (through full_clean), DRF ModelSerializers (which
read them into min_value / max_value) and `full_clean()` in commands then refuse the same values with
a message naming the field, instead of storing a value every later read of the row fails on.

The integer ranges are the SQL standard ones PostgreSQL enforces, on SQLite too (which would store
anything up to 64 bits), so data valid in one mode is valid in the other. `ClampedIntegerField` is
for the few settings the rules clamp instead of refusing.
"""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from core.money import MAX_AMOUNT, MoneyField

INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges


def column_range(field: models.Field) -> tuple | None:
    """(lowest, highest) value the field's column holds; None for a non-numeric field."""
    if isinstance(field, MoneyField):
        return -MAX_AMOUNT, MAX_AMOUNT
    if isinstance(field, models.DecimalField):
        largest = Decimal(10) ** (field.max_digits - field.decimal_places) - Decimal(10) ** -field.decimal_places
        return -largest, largest
    if field.primary_key or field.is_relation or isinstance(field, ClampedIntegerField):
        return None
    return INTEGER_RANGES.get(field.get_internal_type())


def _limit(validator):
    value = validator.limit_value
    return value() if callable(value) else value


def bound(field: models.Field) -> None:
    """Give one numeric field its single Min/Max pair (the column's range ∩ the field's own bounds)."""
    span = column_range(field)
    if span is None:
        return
    low, high = span
    others = []
    for validator in field._validators:
        if isinstance(validator, MinValueValidator):
            low = max(low, _limit(validator))
        elif isinstance(validator, MaxValueValidator):
            high = min(high, _limit(validator))
        else:
            others.append(validator)
    field._validators = [*others, MinValueValidator(low), MaxValueValidator(high)]
    field.__dict__.pop("validators", None)  # Field.validators is cached


def limits(field: models.Field) -> tuple:
    """(lowest, highest) value a bounded field accepts, for messages and for checks outside forms."""
    low = next(_limit(v) for v in field.validators if isinstance(v, MinValueValidator))
    high = next(_limit(v) for v in field.validators if isinstance(v, MaxValueValidator))
    return low, high


def range_errors(instance: models.Model) -> dict[str, str]:
    """{field: message} for every numeric value of `instance` its field does not accept: the check for
    code that saves without a form or a serializer (commands, services)."""
    errors = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if column_range(field) is None or value is None or hasattr(value, "resolve_expression"):
            continue
        value = field.to_python(value)
        for validator in field.validators:
            if isinstance(validator, MinValueValidator | MaxValueValidator):
                try:
                    validator(value)
                except ValidationError as exc:
                    errors[field.name] = " ".join(exc.messages)
    return errors


def within_columns(model):
    """Class decorator: bound every numeric field of the model (see the module docstring)."""
    for field in model._meta.local_concrete_fields:
        bound(field)
    return model


class ClampedIntegerField(models.PositiveSmallIntegerField):
    """A small integer setting kept within [low, high] by clamping, never by refusing (spec S3's
    pool_mode_retry_count: <0 → 0, >10 → 10). Clamped when cleaned and when saved."""

    def __init__(self, *args, low: int, high: int, **kwargs):
        self.low, self.high = low, high
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, {**kwargs, "low": self.low, "high": self.high}

    def clamp(self, value):
        return value if value is None else min(max(int(value), self.low), self.high)

    def to_python(self, value):
        return self.clamp(super().to_python(value))

    @property
    def validators(self):
        return [v for v in super().validators if not isinstance(v, MinValueValidator | MaxValueValidator)]

    def pre_save(self, model_instance, add):
        value = self.clamp(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, value)
        return value

    def formfield(self, **kwargs):
        return models.Field.formfield(self, **{"form_class": forms.IntegerField, **kwargs})
