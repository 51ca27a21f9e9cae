"""The numbers the portal's usage page charts, for one user (optionally one of their keys).

MINIMAL QUERIES OWNED HERE UNTIL usage/stats.py (issue 13a) IS MERGED: `chart_by_day`, `chart_by_model`
and `totals` aggregate the user's raw logs over the last `days` days.
"""

import json
from datetime import timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import UsageLog
from core.money import from_nanos


def _logs(user, days: int, key=None):
    since = timezone.localdate() - timedelta(days=days - 1)
    logs = UsageLog.objects.filter(user=user, created_at__date__gte=since)
    return logs.filter(api_key=key) if key is not None else logs


def totals(user, days: int, key=None) -> dict:
    row = _logs(user, days, key).aggregate(
        requests=Count("id"), input=Sum("input_tokens"), output=Sum("output_tokens"), cost=Sum("actual_cost"),
    )
    return {"requests": row["requests"], "input_tokens": row["input"] or 0, "output_tokens": row["output"] or 0,
            "cost": from_nanos(row["cost"] or 0)}


def _chart(labels, requests, costs) -> str:
    """Chart.js data for unfold's chart component (bar: requests; line: spend on its own axis)."""
    return json.dumps({"labels": labels, "datasets": [
        {"label": _("Requests"), "data": requests, "yAxisID": "y"},
        {"label": _("Spend (USD)"), "data": costs, "type": "line", "yAxisID": "y1"},
    ]})


def chart_by_day(user, days: int, key=None) -> str:
    rows = {
        row["day"]: row for row in _logs(user, days, key).annotate(day=TruncDate("created_at"))
        .values("day").annotate(requests=Count("id"), cost=Sum("actual_cost")).order_by("day")
    }
    today = timezone.localdate()
    dates = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return _chart(
        [d.isoformat() for d in dates], [rows[d]["requests"] if d in rows else 0 for d in dates],
        [float(from_nanos(rows[d]["cost"] or 0)) if d in rows else 0 for d in dates],
    )


def chart_by_model(user, days: int, key=None) -> str:
    rows = list(_logs(user, days, key).values("model").annotate(requests=Count("id"), cost=Sum("actual_cost"))
                .order_by("-requests", "model"))
    return _chart([r["model"] for r in rows], [r["requests"] for r in rows],
                  [float(from_nanos(r["cost"] or 0)) for r in rows])
