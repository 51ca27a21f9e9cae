"""The usage page's numbers for one user (optionally one of their keys), from usage.stats (the one
reader of usage statistics), shaped for Chart.js: days without requests are drawn as 0."""

import json
from datetime import date, timedelta

from django.utils.translation import pgettext

from usage import stats


def period(user, days: int, key=None):
    """The last `days` days through today (TIME_ZONE), the user's own rows only."""
    return stats.make_filter(user_id=user.pk, api_key_id=key.pk if key else None, default_days=days)


def _chart(labels, requests, costs) -> str:
    """Bars for requests, a line on its own axis for spend. Spend is drawn, never added: float is fine."""
    return json.dumps({"labels": labels, "datasets": [
        {"label": pgettext("portal", "Requests"), "data": requests, "yAxisID": "y"},
        {"label": pgettext("portal", "Spend (USD)"), "data": [float(c) for c in costs], "type": "line",
         "yAxisID": "y1"},
    ]})


def totals(f) -> dict:
    return stats.totals(f)


def chart_by_day(f) -> str:
    rows = {row["date"]: row for row in stats.trend(f, "day")}
    span = stats.date_range(f)
    first, last = date.fromisoformat(span["start_date"]), date.fromisoformat(span["end_date"])
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    return _chart(days, [rows[d]["requests"] if d in rows else 0 for d in days],
                  [rows[d]["actual_cost"] if d in rows else 0 for d in days])


def chart_by_model(f) -> str:
    rows = stats.models(f)
    return _chart([r["model"] for r in rows], [r["requests"] for r in rows], [r["actual_cost"] for r in rows])
