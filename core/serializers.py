"""The REST API's request and answer fields: JSON types taken literally, messages that name the rule.

Every request body of /api/v1/ is read by a serializer built from these, so drf-spectacular documents
what the code checks. Rules of the reading (kept from the sub2api-compatible API):
- a body must be a JSON object; `null` for a field means "absent" (unchanged on an update) unless the
  field says null clears it (`allow_null=True` declared on the serializer's field);
- strings are strings (a number is not a name), booleans are `true`/`false`, amounts are exact
  (core.money), ids are positive integers;
- numeric ranges come from the model fields (core.columns), so a value the column cannot hold is a 400
  naming the field, never a stored value that breaks every later read.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from django.db import models
from rest_framework import serializers
from rest_framework.settings import api_settings

from core import patterns
from core.money import MAX_AMOUNT, MoneyField, to_decimal
from core.rest import MAX_DB_ID

BODY_NOT_OBJECT = "Invalid request: the body must be a JSON object"
RANGE_MESSAGES = {
    "invalid": "must be a number",
    "max_value": "must be <= {max_value}",
    "min_value": "must be >= {min_value}",
    "max_string_length": "too long",
    "max_digits": "at most {max_digits} digits",
    "max_decimal_places": "at most {max_decimal_places} decimal places",
    "max_whole_digits": "at most {max_whole_digits} digits before the decimal point",
}


class Text(serializers.CharField):
    """A JSON string; surrounding whitespace is trimmed unless `trim_whitespace=False`."""

    default_error_messages = {
        "invalid": "must be a string",
        "blank": "must not be empty",
        "max_length": "at most {max_length} characters",
        "min_length": "at least {min_length} characters",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Choice(serializers.ChoiceField):
    default_error_messages = {"invalid_choice": "must be one of {choices}"}

    def __init__(self, choices, **kwargs):
        super().__init__(choices, **kwargs)
        self.error_messages["invalid_choice"] = "must be one of " + ", ".join(str(c) for c in self.choices)


class Bool(serializers.BooleanField):
    """`true` or `false`, nothing else ("yes", 1 and "true" are refused)."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid")


class Integer(serializers.IntegerField):
    """An integer; an integral float (5.0) and a numeric string ("5") are accepted as sub2api clients send them."""

    default_error_messages = {**RANGE_MESSAGES, "invalid": "must be an integer"}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictInteger(Integer):
    """A JSON integer and nothing else (no string, no float)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class Money(serializers.DecimalField):
    """US dollars, exact to the nano-dollar (more decimals are rounded, as core.money does)."""

    default_error_messages = {**RANGE_MESSAGES, "invalid": "must be a finite number"}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 19)
        kwargs.setdefault("decimal_places", 9)
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str | Decimal):
            self.fail("invalid")
        if isinstance(data, str) and len(data) > self.MAX_STRING_LENGTH:
            self.fail("max_string_length")
        try:
            amount = Decimal(repr(data)) if isinstance(data, float) else Decimal(str(data).strip())
        except InvalidOperation:
            self.fail("invalid")
        if not amount.is_finite():
            self.fail("invalid")
        high = MAX_AMOUNT if self.max_value is None else self.max_value
        low = -MAX_AMOUNT if self.min_value is None else self.min_value
        if amount > high:
            self.fail("max_value", max_value=high)
        if amount < low:
            self.fail("min_value", min_value=low)
        return to_decimal(amount)


class Number(serializers.DecimalField):
    """A model's DecimalField: the column's digits are its min/max (core.columns), so only the decimal
    places are checked here; a value too large says "must be <= 999999.9999" rather than count digits."""

    default_error_messages = {**RANGE_MESSAGES, "invalid": "must be a finite number"}

    def validate_precision(self, value):
        if self.decimal_places is not None and value.as_tuple().exponent < -self.decimal_places:
            value = value.normalize()
            if value.as_tuple().exponent < -self.decimal_places:
                self.fail("max_decimal_places", max_decimal_places=self.decimal_places)
        return value

    def quantize(self, value):
        if self.max_value is not None and value > self.max_value:  # before the digits overflow quantize
            self.fail("max_value", max_value=self.max_value)
        if self.min_value is not None and value < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        return super().quantize(value)


class Id(serializers.IntegerField):
    """A database id: a positive integer (or its digits as a string). With `zero_clears`, 0 means none."""

    def __init__(self, noun: str, *, zero_clears: bool = False, **kwargs):
        self.noun, self.zero_clears = noun, zero_clears
        kwargs.setdefault("min_value", 0 if zero_clears else 1)
        kwargs.setdefault("max_value", MAX_DB_ID)
        super().__init__(**kwargs)
        message = f"Invalid {noun} ID"
        self.error_messages.update(invalid=message, min_value=message, max_value=message, max_string_length=message)

    def run_validation(self, data=serializers.empty):
        if self.zero_clears and data == 0 and not isinstance(data, bool):
            return None
        return super().run_validation(data)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not (
            isinstance(data, int) or (isinstance(data, str) and data.isascii() and data.isdigit())
        ):
            self.fail("invalid")
        value = int(data)
        if not 0 < value <= MAX_DB_ID:
            self.fail("invalid")
        return value


class IdList(serializers.ListField):
    """A list of ids, duplicates dropped, order kept."""

    default_error_messages = {"not_a_list": "must be a list of ids"}

    def __init__(self, noun: str, **kwargs):
        super().__init__(child=Id(noun), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        return list(dict.fromkeys(super().to_internal_value(data)))


class TextList(serializers.ListField):
    """A list of strings; blank items are dropped."""

    default_error_messages = {"not_a_list": "must be a list of strings"}

    def __init__(self, *, max_length=200, model_patterns=False, **kwargs):
        self.model_patterns = model_patterns
        super().__init__(child=Text(max_length=max_length, allow_blank=True), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        items = [item for item in super().to_internal_value(data) if item]
        if self.model_patterns:
            refuse_bad_patterns(items)
        return items


def refuse_nul_keys(data: Mapping) -> None:
    if any("\x00" in key for key in data):
        raise serializers.ValidationError("keys must not contain NUL characters")


def refuse_bad_patterns(values) -> None:
    """The admin's editors and the API accept the same model patterns (core.patterns)."""
    for value in values:
        if isinstance(value, str) and (problem := patterns.pattern_error(value)):
            raise serializers.ValidationError(f"{value!r}: {problem}")


class TextMap(serializers.DictField):
    """An object of strings to strings (model mappings)."""

    default_error_messages = {"not_a_dict": "must be an object of strings"}

    def __init__(self, *, max_length=200, model_patterns=False, **kwargs):
        self.max_length = max_length
        self.model_patterns = model_patterns
        super().__init__(child=Text(max_length=max_length, allow_blank=True, trim_whitespace=False), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            self.fail("not_a_dict", input_type=type(data).__name__)
        refuse_nul_keys(data)
        if any(len(key) > self.max_length for key in data):
            raise serializers.ValidationError(f"keys of at most {self.max_length} characters")
        if self.model_patterns:
            refuse_bad_patterns(data)
        return dict(super().to_internal_value(data))


class BodyMixin:
    """A request body: a JSON object, with `null` read as "absent" for fields that do not allow null."""

    def run_validation(self, data=serializers.empty):
        if data is not serializers.empty and not isinstance(data, Mapping):
            message = BODY_NOT_OBJECT if self.parent is None else "must be an object"
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        if isinstance(data, Mapping):
            fields = self.fields
            data = {k: v for k, v in data.items() if v is not None or (k in fields and fields[k].allow_null)}
        return super().run_validation(data)


class Body(BodyMixin, serializers.Serializer):
    pass


ANSWER_FIELDS = {**serializers.ModelSerializer.serializer_field_mapping, MoneyField: Money}


class Answer(serializers.ModelSerializer):
    """An answer's JSON for a model (amounts as exact JSON numbers)."""

    serializer_field_mapping = ANSWER_FIELDS


class ModelBody(BodyMixin, serializers.ModelSerializer):
    """A request body for a model: fields, types and ranges from the model, read with the fields above."""

    serializer_field_mapping = {
        **ANSWER_FIELDS,
        models.CharField: Text,
        models.TextField: Text,
        models.URLField: Text,
        models.EmailField: Text,
        models.BooleanField: Bool,
        models.DecimalField: Number,
        models.IntegerField: Integer,
        models.SmallIntegerField: Integer,
        models.BigIntegerField: Integer,
        models.PositiveIntegerField: Integer,
        models.PositiveSmallIntegerField: Integer,
    }
    serializer_choice_field = Choice


