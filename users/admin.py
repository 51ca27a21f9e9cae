"""User admin (email login), per-user group rates and subscriptions.

The balance is charged concurrently by the gateway, so the change form never writes the balance
column: it shows the balance and its history, and applies an adjustment through billing.balance.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group as PermissionGroup
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm

from apikeys.admin import key_expires_cell, key_quota_cell, key_status_badge
from apikeys.models import ApiKey
from billing import balance
from billing.models import BalanceChange
from core.display import badge, money, spend_cell
from usage import admin_links
from usage.stats import spend
from users.forms import UserChangeForm, UserCreationForm
from users.models import Subscription, User, UserGroupRate

# Admins are users with the admin role; Django's permission groups would only stand beside our
# routing groups under the same name.
admin.site.unregister(PermissionGroup)


class UserGroupRateInline(TabularInline):
    model = UserGroupRate
    extra = 0
    fields = ("group", "rate_multiplier")


class ReadOnlyInline(TabularInline):
    """Rows shown on the user's page, changed elsewhere (their own page, or only through a service)."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BalanceChangeInline(ReadOnlyInline):
    """Every change of the balance by a person; gateway charges are in the usage log."""

    model = BalanceChange
    fk_name = "user"
    verbose_name = _("balance change")
    verbose_name_plural = _("balance history")
    fields = ("created_at", "amount_cell", "balance_after_cell", "kind", "note", "actor")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @display(description=_("amount (USD)"))
    def amount_cell(self, obj):
        return badge(f"{'+' if obj.amount >= 0 else '−'}{money(abs(obj.amount))}", "ok" if obj.amount >= 0 else "over")

    @display(description=_("balance after (USD)"))
    def balance_after_cell(self, obj):
        return money(obj.balance_after)


class ApiKeyInline(ReadOnlyInline):
    model = ApiKey
    verbose_name_plural = _("API keys")
    fields = ("name", "masked_key", "group", "status_cell", "quota_cell", "expires_cell", "last_used_at")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-id",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group")

    @display(description=_("key"))
    def masked_key(self, obj):
        return obj.masked

    @display(description=_("status"))
    def status_cell(self, obj):
        return key_status_badge(obj)

    @display(description=_("quota"))
    def quota_cell(self, obj):
        return key_quota_cell(obj)

    @display(description=_("expires"))
    def expires_cell(self, obj):
        return key_expires_cell(obj)


class SubscriptionInline(ReadOnlyInline):
    model = Subscription
    verbose_name_plural = _("subscriptions")
    fields = ("group", "status", "starts_at", "expires_at", "daily_usage", "weekly_usage", "monthly_usage")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group")


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = (
        "email", "username", "role", "status_badge", "balance_column", "spend_column", "concurrency", "created_at",
    )
    list_filter = ("role", "status", "is_staff")
    search_fields = ("email", "username", "notes")
    ordering = ("id",)
    filter_horizontal = ()
    readonly_fields = ("balance_readonly", "spend_readonly", "usage_link", "last_login", "created_at", "updated_at")
    inlines = (BalanceChangeInline, ApiKeyInline, SubscriptionInline, UserGroupRateInline)
    # Django's permission fields are apart from subrelay's routing groups, and only superusers see them:
    # subrelay grants everything through the role, the status and the exclusive groups.
    PERMISSIONS = (_("Django admin permissions"), {
        "fields": ("is_superuser", "groups", "user_permissions"),
        "description": _("Django's own permission system, for the admin site only; it does not decide which "
                         "gateway groups a user may use (that is “Exclusive groups” above)."),
    })
    fieldsets = (
        (None, {"fields": ("email", "password", "username", "notes", "time_zone")}),
        (_("Balance"), {"fields": (
            "balance_readonly", "spend_readonly", "usage_link", "balance_adjustment", "balance_note",
        )}),
        (_("Gateway access"), {"fields": ("role", "status", "is_staff", "concurrency", "allowed_groups")}),
        PERMISSIONS,
        (_("Dates"), {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
        (_("Billing"), {"fields": ("role", "balance", "concurrency")}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.is_superuser:
            return fieldsets
        return [fieldset for fieldset in fieldsets if fieldset is not self.PERMISSIONS]

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()

    @display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), "ok" if obj.is_active else "over")

    @display(description=_("balance (USD)"), ordering="balance")
    def balance_column(self, obj):
        return money(obj.balance)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        admin_links.attach_spend(response, "user")
        return response

    @display(description=_("spend"))
    def spend_column(self, obj):
        return spend_cell(getattr(obj, "spend", {}), admin_links.usage_logs_url(user=obj.pk))

    @display(description=_("usage"))
    def usage_link(self, obj):
        return admin_links.usage_link(obj, "user")

    @display(description=_("balance (USD)"))
    def balance_readonly(self, obj):
        return money(obj.balance) if obj.pk else "-"

    @display(description=_("spend (USD)"))
    def spend_readonly(self, obj):
        if not obj.pk:
            return "-"
        spent = spend("user", [obj.pk])[obj.pk]
        return format_html(
            "{} <b>{}</b> · {} <b>{}</b> · {} <b>{}</b>", _("today"), money(spent["today"]),
            _("last 7 days"), money(spent["7d"]), _("in total"), money(spent["total"]),
        )

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
