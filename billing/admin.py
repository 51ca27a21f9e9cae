"""Billing admin: the price table (editable) and usage logs (read-only)."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from billing import export, prices
from billing.models import ModelPrice, UsageLog
from core import display as show

PRICE_FIELDS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


@admin.register(ModelPrice)
class ModelPriceAdmin(ModelAdmin):
    """The admin's prices; the shipped table is shown read-only under them, each overridden row marked."""

    list_display = ("model", "input_price", "output_price", "cache_read_price", "cache_write_5m_price",
                    "cache_write_1h_price", "replaces", "updated_at")
    search_fields = ("model",)

    @display(description=_("input / MTok"), ordering="input")
    def input_price(self, obj):
        return show.cost(obj.input)

    @display(description=_("output / MTok"), ordering="output")
    def output_price(self, obj):
        return show.cost(obj.output)

    @display(description=_("cache read / MTok"), ordering="cache_read")
    def cache_read_price(self, obj):
        return show.cost(obj.cache_read)

    @display(description=_("cache write 5m / MTok"), ordering="cache_write_5m")
    def cache_write_5m_price(self, obj):
        return show.cost(obj.cache_write_5m)

    @display(description=_("cache write 1h / MTok"), ordering="cache_write_1h")
    def cache_write_1h_price(self, obj):
        return show.cost(obj.cache_write_1h)

    @display(description=_("replaces built-in price"))
    def replaces(self, obj):
        entry = prices.shipped_entry(obj.model)
        return entry or format_html('<span class="sr-muted">{}</span>', _("none (a model the table lacks)"))

    def changelist_view(self, request, extra_context=None):
        # Requests for models missing from the price table are served and charged at the fallback
        # price; list them here so the admin can price them.
        extra_context = {
            **(extra_context or {}), "unpriced_models": prices.unpriced_models(),
            "shipped_prices": self._shipped_rows(),
        }
        return super().changelist_view(request, extra_context)

    def _shipped_rows(self):
        ids = dict(ModelPrice.objects.values_list("model", "pk"))
        add_url = reverse("admin:billing_modelprice_add")
        rows = []
        for entry in prices.shipped_table():
            price, override = entry["price"], entry["override"]
            long = price.long_context
            rows.append({
                "model": entry["model"],
                "prices": [show.cost(getattr(price, name)) for name in PRICE_FIELDS],
                "long_context": long and _("above %(tokens)s tokens: %(input)s in / %(output)s out") % {
                    "tokens": f"{price.long_context_above:,}", "input": show.cost(long.input),
                    "output": show.cost(long.output)},
                "override": override,
                "override_url": override in ids and reverse("admin:billing_modelprice_change", args=[ids[override]]),
                "add_url": f"{add_url}?" + urlencode(
                    {"model": entry["model"], **{name: getattr(price, name) for name in PRICE_FIELDS}}),
            })
        return rows


@admin.register(UsageLog)
class UsageLogAdmin(ModelAdmin):
    """Usage logs are the billing record: append-only here (no add, edit or delete), totals of the filtered
    set above the list, and a CSV export of that same set."""

    list_display = (
        "created_at", "user", "key_column", "account", "group", "model_column", "tokens", "cost", "charged",
        "stream", "status",
    )
    list_filter = (
        "stream", "billing_type", "status", "cache_ttl_overridden", "priced_by_fallback", "group", "model",
    )
    search_fields = ("request_id", "model", "upstream_model", "user__email")
    list_select_related = ("user", "api_key", "account", "group")
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_before_template = "admin/billing/usagelog/totals.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in UsageLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_csv), name="billing_usagelog_export")
        return [export, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            totals = context["cl"].queryset.totals()
            context["usage_totals"] = {
                **totals, "tokens_display": f"{totals['tokens']:,}", "input_display": f"{totals['input_tokens']:,}",
                "output_display": f"{totals['output_tokens']:,}", "read_display": f"{totals['cache_read_tokens']:,}",
                "write_display": f"{totals['cache_creation_tokens']:,}",
                "total_cost_display": show.cost(totals["total_cost"]),
                "actual_cost_display": show.cost(totals["actual_cost"]),
            }
        return response

    def export_csv(self, request):
        """The logs the changelist shows with the same filters, search and date, every page of them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(_("Unknown filter in the export link."))
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(export.usage_csv(changelist.queryset), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="usage-logs-{stamp}.csv"'
        return response

    # --- columns ---------------------------------------------------------------------------------
    @display(description=_("API key"), ordering="api_key")
    def key_column(self, obj):
        return obj.api_key or "-"

    @display(description=_("model (requested ↳ upstream)"), ordering="model")
    def model_column(self, obj):
        if obj.upstream_model and obj.upstream_model != obj.model:
            return format_html('{}<br><span class="sr-muted">↳ {}</span>', obj.model, obj.upstream_model)
        return obj.model

    @display(description=_("tokens"))
    def tokens(self, obj):
        title = _("input %(input)s, output %(output)s, cache read %(read)s, cache write %(write)s") % {
            "input": obj.input_tokens, "output": obj.output_tokens, "read": obj.cache_read_tokens,
            "write": obj.cache_creation_tokens,
        }
        return format_html('<span title="{}">{}</span>', title, f"{obj.total_tokens:,}")

    @display(description=_("list cost"), ordering="total_cost")
    def cost(self, obj):
        return show.cost(obj.total_cost)

    @display(description=_("charged"), ordering="actual_cost")
    def charged(self, obj):
        return show.cost(obj.actual_cost)


from billing import admin_failed  # noqa: E402,F401  (failed charges)
