"""Reading REST path and query input: ids refused with a 400 naming the noun (never a 500), and
timestamps written back as RFC 3339. Bodies are read by serializers (core.serializers)."""

from datetime import UTC

from core.rest import MAX_DB_ID, ApiError

__all__ = ["MAX_DB_ID", "get_or_404", "iso", "parse_id"]


def parse_id(raw, noun: str) -> int:
    """A database id from a path or query; anything else is a 400 "Invalid <noun> ID"."""
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


def iso(value):
    """RFC 3339 UTC timestamps in JSON (None stays null)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
