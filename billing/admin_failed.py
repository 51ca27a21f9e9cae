"""Failed charges in the admin: what could not be charged, why, and a Retry action."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import display

from billing import failed
from billing.models import FailedCharge
from core.display import badge


@admin.register(FailedCharge)
class FailedChargeAdmin(ModelAdmin):
    list_display = ("created_at", "request_id", "state", "who", "model", "cost_hint", "attempts", "short_error")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    search_fields = ("request_id", "error")
    readonly_fields = ("request_id", "payload", "error", "attempts", "created_at", "resolved_at", "usage_log")
    actions = ("retry_selected",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @display(description=_("state"))
    def state(self, obj):
        return badge(_("resolved"), "ok") if obj.resolved_at else badge(_("open"), "over")

    @display(description=_("user / key"))
    def who(self, obj):
        return f"user {obj.payload.get('user_id')} / key {obj.payload.get('api_key_id')}"

    @display(description=_("model"))
    def model(self, obj):
        return obj.payload.get("model", "")[:60]

    @display(description=_("tokens in / out"))
    def cost_hint(self, obj):
        usage = obj.payload.get("usage") or {}
        return f"{usage.get('input_tokens', 0)} / {usage.get('output_tokens', 0)}"

    @display(description=_("error"))
    def short_error(self, obj):
        return obj.error[:120]

    @admin.action(description=_("Retry the charge"), permissions=["view"])
    def retry_selected(self, request, queryset):
        done = sum(failed.retry(item) for item in queryset)
        left = queryset.count() - done
        self.message_user(request, ngettext(
            "%(count)d charge applied.", "%(count)d charges applied.", done) % {"count": done}, messages.SUCCESS)
        if left:
            self.message_user(request, ngettext(
                "%(count)d charge failed again; see its error.", "%(count)d charges failed again; see their errors.",
                left) % {"count": left}, messages.WARNING)
