"""Billing admin: the price table (editable) and usage logs (read-only)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from billing import prices
from billing.models import ModelPrice, UsageLog
from core.display import money


@admin.register(ModelPrice)
class ModelPriceAdmin(ModelAdmin):
    list_display = ("model", "input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "updated_at")
    search_fields = ("model",)

    def changelist_view(self, request, extra_context=None):
        # Requests for models missing from the price table are served and charged at the fallback
        # price; list them here so the admin can price them.
        extra_context = {**(extra_context or {}), "unpriced_models": prices.unpriced_models()}
        return super().changelist_view(request, extra_context)


@admin.register(UsageLog)
class UsageLogAdmin(ModelAdmin):
    list_display = (
        "created_at", "user", "api_key", "account", "group", "model", "upstream_model", "tokens", "cost",
        "charged", "stream", "status",
    )
    list_filter = (
        "stream", "billing_type", "status", "cache_ttl_overridden", "priced_by_fallback", "group", "model",
    )
    search_fields = ("request_id", "model", "upstream_model", "user__email")
    list_select_related = ("user", "api_key", "account", "group")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in UsageLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @display(description=_("tokens"))
    def tokens(self, obj):
        return obj.total_tokens

    @display(description=_("list cost"), ordering="total_cost")
    def cost(self, obj):
        return money(obj.total_cost)

    @display(description=_("charged"), ordering="actual_cost")
    def charged(self, obj):
        return money(obj.actual_cost)

from billing import admin_failed  # noqa: E402,F401  (failed charges)
