"""The admin index as a usage dashboard (unfold's DASHBOARD_CALLBACK): cards, daily charts, the model
distribution by requested / upstream / mapping model, rankings, account health and prompt-cache use.

Every number comes from usage.stats (rollups plus the live tail); this module only shapes them for
templates/admin/index.html. Chart data is Chart.js JSON with amounts as exact decimal strings.
"""

import datetime as dt
import json
from dataclasses import replace

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import failed
from core.display import cost
from usage import admin_links, stats
from usage.query import MODEL_SOURCES

RANGES = (7, 30, 90)
DEFAULT_RANGE = 30
TOP = 10
MODELS_SHOWN = 12
# Hex, not the theme's oklch variables: Chart.js derives hover colours from them.
# Account.unschedulable_reason's words, for the admin's language.
REASONS = {
    "paused by admin": gettext_lazy("paused by admin"), "expired": gettext_lazy("expired"),
    "rate limited": gettext_lazy("rate limited"), "overloaded": gettext_lazy("overloaded"),
    "temporarily unschedulable": gettext_lazy("temporarily unschedulable"),
    "quota exceeded": gettext_lazy("quota exceeded"),
}
PALETTE = ("#9333ea", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#6366f1")


def dashboard_callback(request, context):
    days = _int_choice(request.GET.get("days"), RANGES, DEFAULT_RANGE)
    source = request.GET.get("model_source", "").strip()
    context.update(build(days, source if source in MODEL_SOURCES else "requested"))
    return context


def _int_choice(raw, choices, default):
    return int(raw) if raw and raw.isdigit() and int(raw) in choices else default


def build(days: int, source: str) -> dict:
    f = stats.make_filter(default_days=days)
    trend = _days_filled(f, stats.trend(f, "day"))
    models = {name: stats.models(replace(f, model_source=name)) for name in MODEL_SOURCES}
    groups = stats.groups(f)
    return {
        "dashboard": True,
        "range_days": days,
        "ranges": RANGES,
        "date_range": stats.date_range(f),
        "model_source": source,
        "model_sources": [(name, label) for name, label in _source_labels().items()],
        "cards": _cards(f),
        "charts": {
            "requests": _chart([(_("requests"), [r["requests"] for r in trend])], trend),
            "tokens": _chart([
                (_("input"), [r["input_tokens"] for r in trend]), (_("output"), [r["output_tokens"] for r in trend]),
                (_("cache read"), [r["cache_read_tokens"] for r in trend]),
                (_("cache write"), [r["cache_creation_tokens"] for r in trend]),
            ], trend),
            "cost": _chart([(_("charged"), [str(r["actual_cost"]) for r in trend]),
                            (_("list cost"), [str(r["cost"]) for r in trend])], trend, line=True),
            "models": _models_chart(models[source]),
            "groups": _groups_chart(groups),
        },
        "models_by_source": {name: json.loads(_models_chart(rows)) for name, rows in models.items()},
        "model_tables": {name: [_model_row(r) for r in rows[:MODELS_SHOWN]] for name, rows in models.items()},
        "top_users": [_ranked(r, reverse("admin:users_user_change", args=[r["user_id"]]),
                              admin_links.usage_logs_url(user=r["user_id"]), r["email"])
                      for r in stats.users_ranking(f, TOP)],
        "top_keys": [_ranked(r, reverse("admin:apikeys_apikey_change", args=[r["api_key_id"]]),
                             admin_links.usage_logs_url(api_key=r["api_key_id"]),
                             f"{r['key_name'] or r['api_key_id']} ({r['user_email']})")
                     for r in stats.api_keys_ranking(f, TOP)],
        "groups": [{**r, "cost_display": cost(r["actual_cost"], 4), "tokens_display": f"{r['total_tokens']:,}",
                    "name": r["group_name"] or _("(no group)")} for r in groups],
        "accounts": _account_health(),
        "cache_models": [_cache_row(r, r["model"]) for r in stats.cache_efficiency(f, "model")[:TOP]],
        "cache_accounts": [_cache_row(r, r["account_name"] or _("(no account)"))
                           for r in stats.cache_efficiency(f, "account")[:TOP]],
    }


def _source_labels() -> dict:
    return {"requested": _("Requested"), "upstream": _("Upstream"), "mapping": _("Mapping")}


def _cards(f) -> dict:
    overview = stats.dashboard_stats()
    period = stats.totals(f)
    return {
        "requests": f"{period['requests']:,}", "today_requests": f"{overview['today_requests']:,}",
        "errors": f"{period['errors']:,}",
        "tokens": f"{period['total_tokens']:,}", "today_tokens": f"{overview['today_tokens']:,}",
        "charged": cost(period["actual_cost"], 4), "list_cost": cost(period["cost"], 4),
        "today_charged": cost(overview["today_actual_cost"], 4),
        "rpm": overview["rpm"], "tpm": overview["tpm"],
        "users": overview["active_users"], "keys": overview["active_api_keys"],
        "accounts": overview["total_accounts"], "error_accounts": overview["error_accounts"],
        "failed_charges": failed.open_count(),
        "failed_charges_url": reverse("admin:billing_failedcharge_changelist") + "?resolved_at__isempty=1",
    }


def _days_filled(f, rows: list[dict]) -> list[dict]:
    """One row per day of the range, zeros where nothing was used (a chart's axis has no gaps)."""
    by_date = {r["date"]: r for r in rows}
    zone = f.zone
    day, last = f.start.astimezone(zone).date(), (f.end.astimezone(zone) - dt.timedelta(days=1)).date()
    filled = []
    while day <= last:
        label = day.isoformat()
        filled.append(by_date.get(label) or {
            "date": label, "requests": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
            "cache_creation_tokens": 0, "total_tokens": 0, "cost": 0, "actual_cost": 0,
        })
        day += dt.timedelta(days=1)
    return filled


def _dataset(index: int, label: str, values: list, line: bool = False) -> dict:
    colour = PALETTE[index % len(PALETTE)]
    data = {"label": label, "data": values, "backgroundColor": colour, "borderColor": colour}
    if line:
        data.update(fill=False, tension=0.25, pointRadius=2)
    return data


def _chart(series, trend, line=False) -> str:
    return json.dumps({
        "labels": [r["date"][5:] for r in trend],
        "datasets": [_dataset(i, label, values, line) for i, (label, values) in enumerate(series)],
    })


def _models_chart(rows: list[dict]) -> str:
    shown = rows[:MODELS_SHOWN]
    return json.dumps({
        "labels": [r["model"] for r in shown],
        "datasets": [_dataset(0, _("tokens"), [r["total_tokens"] for r in shown])],
    })


def _groups_chart(rows: list[dict]) -> str:
    return json.dumps({
        "labels": [r["group_name"] or _("(no group)") for r in rows[:TOP]],
        "datasets": [_dataset(2, _("charged"), [str(r["actual_cost"]) for r in rows[:TOP]])],
    })


def _model_row(r: dict) -> dict:
    return {"model": r["model"], "requests": f"{r['requests']:,}", "tokens": f"{r['total_tokens']:,}",
            "cost": cost(r["actual_cost"], 4)}


def _ranked(r: dict, change_url: str, logs_url: str, name: str) -> dict:
    return {"name": name, "change_url": change_url, "logs_url": logs_url, "requests": f"{r['requests']:,}",
            "tokens": f"{r['total_tokens']:,}", "cost": cost(r["actual_cost"], 4)}


def _cache_row(r: dict, name: str) -> dict:
    return {
        "name": name, "requests": f"{r['requests']:,}", "hit_rate": f"{r['hit_rate'] * 100:.1f} %",
        "hit_fraction": r["hit_rate"], "reads": f"{r['cache_read_tokens']:,}",
        "writes_5m": f"{r['cache_creation_5m_tokens']:,}", "writes_1h": f"{r['cache_creation_1h_tokens']:,}",
        "saved": cost(r["saved"], 4),
    }


def _account_health() -> dict:
    """Each account's state now (the scheduler's own rule) and its spend; troubled accounts first."""
    from accounts.models import Account

    accounts = list(Account.objects.order_by("name"))
    spend = stats.spend("account", [a.pk for a in accounts])
    rows = []
    for account in accounts:
        reason = account.unschedulable_reason()
        if reason is not None and reason.startswith("status "):
            reason = _("status: %(status)s") % {"status": account.get_status_display()}
        rows.append({
            "name": account.name, "url": reverse("admin:accounts_account_change", args=[account.pk]),
            "logs_url": admin_links.usage_logs_url(account=account.pk), "healthy": reason is None,
            "reason": REASONS.get(reason, reason) or _("schedulable"), "error": account.error_message if reason else "",
            "today": cost(spend[account.pk]["today"], 4), "week": cost(spend[account.pk]["7d"], 4),
        })
    rows.sort(key=lambda r: r["healthy"])
    healthy = sum(r["healthy"] for r in rows)
    return {"rows": rows[:20], "healthy": healthy, "troubled": len(rows) - healthy, "total": len(rows)}
