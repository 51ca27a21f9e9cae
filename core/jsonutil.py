"""JSON from clients and upstreams, which may be anything."""

import json


def parse(data):
    """The decoded value, or None when `data` is not JSON. Nesting deeper than the parser can follow
    counts as not JSON: `json` raises RecursionError for it, which would otherwise end as a 500."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
