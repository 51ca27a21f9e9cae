"""The admin's ways into usage from other lists: spend columns on keys and users, links to their logs."""

from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from core.display import spend_cell
from usage import stats

FILTER_PARAMS = {"api_key": "api_key__id__exact", "user": "user__id__exact", "account": "account__id__exact"}


def usage_logs_url(**by) -> str:
    """The usage-log list filtered to one key, user or account: usage_logs_url(api_key=3)."""
    params = {FILTER_PARAMS[name]: value for name, value in by.items()}
    return f"{reverse('admin:billing_usagelog_changelist')}?{urlencode(params)}"


def attach_spend(response, by: str) -> None:
    """Give every object on a rendered changelist page its `spend` ({today, 7d, total}), in one read."""
    context = getattr(response, "context_data", None) or {}
    changelist = context.get("cl")
    if changelist is None:
        return
    rows = list(changelist.result_list)
    spend = stats.spend(by, [obj.pk for obj in rows])
    for obj in rows:
        obj.spend = spend[obj.pk]


def usage_link(obj, by: str) -> str:
    """For a change page: the spend of this key or user and a link to its usage logs."""
    if obj is None or obj.pk is None:
        return "-"
    periods = stats.spend(by, [obj.pk])[obj.pk]
    url = usage_logs_url(**{by: obj.pk})
    return format_html(
        '<div class="sr-inline">{}<a class="sr-usage-link text-primary-600 underline" href="{}" id="usage-logs-link">'
        '<span class="material-symbols-outlined">receipt_long</span>{}</a></div>',
        spend_cell(periods), url, _("Usage logs"),
    )
