"""Usage logs as CSV: one row per log, amounts exact to the nano-dollar, written while the rows are read."""

import csv

COLUMNS = (
    ("id", "id"), ("created_at", "created_at"), ("request_id", "request_id"), ("user", "user__email"),
    ("api_key_id", "api_key_id"), ("api_key", "api_key__name"), ("account", "account__name"),
    ("group", "group__name"), ("model", "model"), ("upstream_model", "upstream_model"),
    ("billing_type", "billing_type"), ("stream", "stream"), ("status", "status"), ("endpoint", "endpoint"),
    ("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_read_tokens"), ("cache_creation_tokens", "cache_creation_tokens"),
    ("cache_creation_5m_tokens", "cache_creation_5m_tokens"), ("cache_creation_1h_tokens", "cache_creation_1h_tokens"),
    ("input_cost", "input_cost"), ("output_cost", "output_cost"), ("cache_read_cost", "cache_read_cost"),
    ("cache_creation_cost", "cache_creation_cost"), ("total_cost", "total_cost"), ("actual_cost", "actual_cost"),
    ("rate_multiplier", "rate_multiplier"), ("account_rate_multiplier", "account_rate_multiplier"),
    ("service_tier", "service_tier"), ("duration_ms", "duration_ms"), ("first_token_ms", "first_token_ms"),
    ("priced_by_fallback", "priced_by_fallback"), ("usage_incomplete", "usage_incomplete"),
)
# A spreadsheet runs a cell that starts with one of these as a formula; model names and request ids
# come from clients.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer wants a file; this one hands each written line back."""

    def write(self, line):
        return line


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return f"{value:f}" if hasattr(value, "quantize") else value


def usage_csv(queryset, columns=COLUMNS, chunk_size=2000):
    """The CSV lines (header first) of these usage logs, in the queryset's order: `columns` are (header,
    field or annotation) pairs, the operator's full set unless a caller shows less (the portal)."""
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _field in columns])
    for row in queryset.values_list(*(field for _name, field in columns)).iterator(chunk_size=chunk_size):
        yield writer.writerow([_cell(value) for value in row])
