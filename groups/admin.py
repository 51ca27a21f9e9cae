"""Group admin: drag-and-drop order (S6) in the changelist and the group's accounts as a sortable inline.

Dragging rows rewrites the hidden sort_order inputs (0, 1, 2, … from the top); "Save" persists them
through list_editable. Group saves invalidate the key-auth cache (apikeys.signals); the scheduler's
snapshot is dropped here.
"""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from core.display import badge
from groups.forms import GroupForm
from groups.models import Group, GroupAccount, Platform

PLATFORM_COLOURS = {Platform.ANTHROPIC: "warn", Platform.OPENAI: "ok", Platform.GEMINI: "blue"}


class GroupAccountInline(TabularInline):
    model = GroupAccount
    fields = ("account", "priority", "sort_value")
    ordering_field = "sort_value"
    hide_ordering_field = True
    extra = 0
    autocomplete_fields = ("account",)
    verbose_name = _("account")
    verbose_name_plural = _("accounts (drag to order; the order breaks ties between equal accounts)")


@admin.register(Group)
class GroupAdmin(ModelAdmin):
    form = GroupForm
    list_display = (
        "name", "platform_pill", "status", "subscription_type", "rate_multiplier", "account_count", "id_label",
    )
    list_filter = ("platform", "status", "subscription_type", "is_exclusive")
    search_fields = ("name", "description")
    ordering = ("sort_order", "id")
    ordering_field = "sort_order"
    hide_ordering_field = True
    list_per_page = 500  # sorting only works within one page
    exclude = ("accounts", "sort_order")  # accounts: the ordered inline; sort_order: dragging in the list
    readonly_fields = ("created_at", "updated_at")
    inlines = (GroupAccountInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_accounts=Count("memberships"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "fallback_group":
            kwargs["queryset"] = Group.objects.order_by("sort_order", "id")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @display(description=_("platform"), ordering="platform")
    def platform_pill(self, obj):
        return badge(obj.get_platform_display(), PLATFORM_COLOURS.get(obj.platform, "grey"))

    @display(description=_("accounts"))
    def account_count(self, obj):
        return obj.n_accounts

    @display(description="#")
    def id_label(self, obj):
        return f"#{obj.pk}"



@admin.register(GroupAccount)
class GroupAccountAdmin(ModelAdmin):
    list_display = ("group", "account", "priority", "sort_value")
    list_filter = ("group",)
    search_fields = ("group__name", "account__name")
    list_select_related = ("group", "account")
    autocomplete_fields = ("account",)
    ordering = ("group__sort_order", "group_id", "sort_value", "id")
