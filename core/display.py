"""Small HTML pieces the admin lists share: usage badges and bars coloured by how full a limit is.

The thresholds are the spec's (S4 badges, S7 key bar): below 80 % ok, from 80 % warn, from 100 % over.
Styles live in accounts/static/subrelay/admin.css (the theme's compiled CSS only has its own classes).
"""

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.money import QUANTUM, usd

WARN_AT = 0.8


def level(fraction: float | None) -> str:
    """'ok', 'warn' or 'over' for a used/limit fraction (None = no limit = ok)."""
    if fraction is None or fraction < WARN_AT:
        return "ok"
    return "warn" if fraction < 1 else "over"


def money(value: Decimal | None) -> str:
    return usd(value or Decimal(0))


def cost(value: Decimal | None, places: int = 9) -> str:
    """An amount with trailing zeros dropped, never fewer than cents: a request that cost $0.0124488
    reads so, not "$0.01" (or "$0.00" for a cheaper one). `places` rounds a sum for a card, but never
    to zero: an amount that would vanish keeps all its digits."""
    amount = (value or Decimal(0)).quantize(QUANTUM)
    rounded = amount.quantize(Decimal(1).scaleb(-places))
    text = f"{rounded if rounded or not amount else amount:f}"
    whole, _dot, fraction = text.partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def spend_cell(periods: dict, url: str = "") -> str:
    """Spend today / over 7 days / in total (usage.stats.spend's periods), linking to the logs behind it."""
    lines = format_html_join(
        "", '<span class="sr-spend-row"><span class="sr-muted">{}</span> {}</span>',
        ((label, cost(periods.get(name), 4)) for name, label in
         (("today", _("today")), ("7d", _("7 days")), ("total", _("total")))),
    )
    if url:
        return format_html('<a class="sr-spend" href="{}" title="{}">{}</a>', url, _("Usage logs"), lines)
    return format_html('<span class="sr-spend">{}</span>', lines)


def badge(text, css: str, title="") -> str:
    return format_html('<span class="sr-badge sr-{}" title="{}">{}</span>', css, title, text)


def bar(label, fraction: float | None, text, note="") -> str:
    """One labelled progress bar; width capped at 100 %."""
    width = 0 if fraction is None else max(0, min(100, round(fraction * 100)))
    return format_html(
        '<div class="sr-bar-row"><span class="sr-bar-label">{}</span>'
        '<span class="sr-bar sr-{}" data-level="{}"><span style="width:{}%"></span></span>'
        '<span class="sr-bar-text">{}</span>{}</div>',
        label, level(fraction), level(fraction), width, text,
        format_html('<span class="sr-bar-note">{}</span>', note) if note else "",
    )


def stack(pieces) -> str:
    return format_html('<div class="sr-stack">{}</div>', format_html_join("", "{}", ((p,) for p in pieces)))


def none_label() -> str:
    return format_html('<span class="sr-muted">{}</span>', _("no limit"))


def confirm_page(model_admin, request, *, question, rows, detail_label, confirm_label, action_name=None):
    """The confirmation page of an irreversible action (bulk: re-posts the action; row: posts to itself)."""
    from django.contrib.admin import helpers
    from django.template.response import TemplateResponse
    from django.urls import reverse

    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": question,
        "question": question,
        "rows": rows,
        "detail_label": detail_label,
        "confirm_label": confirm_label,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, "admin/subrelay/confirm_action.html", context)


def confirmed(request) -> bool:
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def when(value) -> str:
    """A date-time as the whole admin shows it: local to the active zone, with the zone ("2026-12-01 19:35 CST")."""
    from django.utils import formats, timezone

    if not value:
        return ""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
