"""Reading REST request input: ids, amounts and JSON object bodies, each refused with a 400 naming the
field (never a 500), and timestamps written back as RFC 3339."""

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal

from core.money import to_decimal
from core.rest import ApiError

UNSET = object()  # absent from the request body (or null): leave the field as it is
MAX_DB_ID = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_MONEY = Decimal(1_000_000_000)


def parse_id(raw, noun: str) -> int:
    """A database id from a path or body; anything else is a 400 "Invalid <noun> ID"."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit():
        value = int(raw)
    else:
        raise ApiError(400, f"Invalid {noun} ID")
    if not 0 < value <= MAX_DB_ID:
        raise ApiError(400, f"Invalid {noun} ID")
    return value


def get_or_404(queryset, pk, noun: str, reason: str | None = None):
    obj = queryset.filter(pk=parse_id(pk, noun.lower())).first()
    if obj is None:
        raise ApiError(404, f"{noun} not found", reason)
    return obj


class Payload:
    """A JSON object body read field by field. Getters return UNSET for an absent or null field."""

    def __init__(self, data):
        if not isinstance(data, Mapping):  # an empty body parses as {}; `null`, lists, strings are refused
            raise ApiError(400, "Invalid request: the body must be a JSON object")
        self.data = data

    def __contains__(self, name):
        return self.data.get(name) is not None

    def raw(self, name):
        value = self.data.get(name)
        return UNSET if value is None else value

    def _required(self, name, value, required):
        if value is UNSET and required:
            raise ApiError(400, f"{name}: this field is required")
        return value

    def string(self, name, *, required=False, max_length=None, blank=True, choices=None, strip=True):
        value = self._required(name, self.raw(name), required)
        if value is UNSET:
            return value
        if not isinstance(value, str):
            raise ApiError(400, f"{name}: must be a string")
        if "\x00" in value:
            raise ApiError(400, f"{name}: must not contain NUL characters")
        if strip:
            value = value.strip()
        if not blank and not value:
            raise ApiError(400, f"{name}: must not be empty")
        if max_length and len(value) > max_length:
            raise ApiError(400, f"{name}: at most {max_length} characters")
        if choices is not None and value not in choices:
            raise ApiError(400, f"{name}: must be one of {', '.join(choices)}")
        return value

    def integer(self, name, *, required=False, min_value=None, max_value=MAX_INT):
        value = self._required(name, self.raw(name), required)
        if value is UNSET:
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(400, f"{name}: must be an integer")
        return _in_range(name, value, min_value, max_value)

    def money(self, name, *, required=False, min_value=Decimal(0), max_value=MAX_MONEY):
        value = self._required(name, self.raw(name), required)
        if value is UNSET:
            return value
        return clean_decimal(name, value, min_value, max_value)

    def boolean(self, name, *, required=False):
        value = self._required(name, self.raw(name), required)
        if value is UNSET or isinstance(value, bool):
            return value
        raise ApiError(400, f"{name}: must be true or false")

    def obj(self, name):
        value = self.raw(name)
        if value is UNSET or isinstance(value, Mapping):
            return value
        raise ApiError(400, f"{name}: must be an object")

    def id(self, name, noun, *, required=False):
        value = self._required(name, self.raw(name), required)
        return value if value is UNSET else parse_id(value, noun)

    def id_list(self, name, noun):
        value = self.raw(name)
        if value is UNSET:
            return value
        if not isinstance(value, list):
            raise ApiError(400, f"{name}: must be a list of ids")
        return list(dict.fromkeys(parse_id(item, noun) for item in value))

    def str_list(self, name, *, max_length=200):
        value = self.raw(name)
        if value is UNSET:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) and "\x00" not in v for v in value):
            raise ApiError(400, f"{name}: must be a list of strings")
        if any(len(v) > max_length for v in value):
            raise ApiError(400, f"{name}: items of at most {max_length} characters")
        return [v.strip() for v in value if v.strip()]

    def str_map(self, name, *, max_length=200):
        value = self.raw(name)
        if value is UNSET:
            return value
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and "\x00" not in k + v for k, v in value.items()
        ):
            raise ApiError(400, f"{name}: must be an object of strings")
        if any(len(k) > max_length or len(v) > max_length for k, v in value.items()):
            raise ApiError(400, f"{name}: keys and values of at most {max_length} characters")
        return dict(value)


def _in_range(name, value, min_value, max_value):
    if min_value is not None and value < min_value:
        raise ApiError(400, f"{name}: must be >= {min_value}")
    if max_value is not None and value > max_value:
        raise ApiError(400, f"{name}: must be <= {max_value}")
    return value


def clean_decimal(name, value, min_value=Decimal(0), max_value=MAX_MONEY) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ApiError(400, f"{name}: must be a number")
    try:
        amount = to_decimal(value)
    except (ValueError, ArithmeticError):  # ArithmeticError: too many digits to quantize
        raise ApiError(400, f"{name}: must be a finite number of at most {max_value}")
    return _in_range(name, amount, min_value, max_value)


def iso(value):
    """RFC 3339 UTC timestamps in JSON (None stays null)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
