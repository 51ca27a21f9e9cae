"""User admin (email login), per-user group rates and subscriptions.

The balance is charged concurrently by the gateway, so the change form never writes the balance
column: it shows the balance and applies an adjustment with one F() update.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group as PermissionGroup
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm

from billing import balance
from billing.models import BalanceChange
from core.display import badge, money
from users.forms import UserChangeForm, UserCreationForm
from users.models import Subscription, User, UserGroupRate

# Admins are users with the admin role; Django's permission groups would only stand beside our
# routing groups under the same name.
admin.site.unregister(PermissionGroup)


class UserGroupRateInline(TabularInline):
    model = UserGroupRate
    extra = 0
    fields = ("group", "rate_multiplier")


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("email", "username", "role", "status_badge", "balance_column", "concurrency", "created_at")
    list_filter = ("role", "status", "is_staff")
    search_fields = ("email", "username", "notes")
    ordering = ("id",)
    filter_horizontal = ()
    readonly_fields = ("balance_readonly", "last_login", "created_at", "updated_at")
    inlines = (UserGroupRateInline,)
    fieldsets = (
        (None, {"fields": ("email", "password", "username", "notes")}),
        (_("Billing"), {"fields": (
            "balance_readonly", "balance_adjustment", "balance_note", "concurrency", "allowed_groups",
        )}),
        (_("Access"), {"fields": ("role", "status", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
        (_("Billing"), {"fields": ("role", "balance", "concurrency")}),
    )

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()

    @display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), "ok" if obj.is_active else "over")

    @display(description=_("balance (USD)"), ordering="balance")
    def balance_column(self, obj):
        return money(obj.balance)

    @display(description=_("balance (USD)"))
    def balance_readonly(self, obj):
        return money(obj.balance) if obj.pk else "-"

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "allowed_groups":
            from groups.models import Group

            kwargs["queryset"] = Group.objects.order_by("sort_order", "id")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            balance.record_opening(obj, kind=BalanceChange.Kind.ADMIN, actor=request.user)
            return
        fields = [f.name for f in User._meta.concrete_fields if not f.primary_key and f.name != "balance"]
        obj.save(update_fields=fields)
        adjustment = form.cleaned_data.get("balance_adjustment")
        if adjustment:
            try:
                balance.adjust(obj, adjustment, kind=BalanceChange.Kind.ADMIN,
                               note=form.cleaned_data.get("balance_note", ""), actor=request.user)
            except balance.BalanceError as exc:  # a charge landed since the form checked the balance
                messages.error(request, _("The balance was not adjusted: %(reason)s") % {"reason": exc.message})


@admin.register(UserGroupRate)
class UserGroupRateAdmin(ModelAdmin):
    list_display = ("user", "group", "rate_multiplier")
    list_select_related = ("user", "group")
    search_fields = ("user__email", "group__name")
    autocomplete_fields = ("user",)


@admin.register(Subscription)
class SubscriptionAdmin(ModelAdmin):
    """Usage windows are charged concurrently; the form shows them and never writes them."""

    USAGE_FIELDS = (
        "daily_usage", "weekly_usage", "monthly_usage", "daily_window_start", "weekly_window_start",
        "monthly_window_start",
    )
    list_display = (
        "user", "group", "status", "starts_at", "expires_at", "daily_usage", "weekly_usage", "monthly_usage",
    )
    list_filter = ("status", "group")
    search_fields = ("user__email", "group__name")
    list_select_related = ("user", "group")
    autocomplete_fields = ("user",)
    readonly_fields = (*USAGE_FIELDS, "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        skip = set(self.USAGE_FIELDS)
        obj.save(update_fields=[f.name for f in Subscription._meta.concrete_fields
                                if not f.primary_key and f.name not in skip])
