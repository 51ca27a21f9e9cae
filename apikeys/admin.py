"""API key admin (S7 management): status badges, quota bar, expiry column, reset-quota and
clear-expiration actions. Every change goes through apikeys.services (which also invalidates the
key-auth cache); the secret is shown once, in a message, right after creation."""

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apikeys import services, windows
from apikeys.forms import ApiKeyForm
from apikeys.models import AdminApiKey, ApiKey
from core.display import badge, bar, confirm_page, confirmed, money, none_label, stack

STATUS_COLOURS = {
    ApiKey.Status.ACTIVE: "ok",
    ApiKey.Status.QUOTA_EXHAUSTED: "warn",
    ApiKey.Status.EXPIRED: "over",
}
LIMITS = ("rate_limit_5h", "rate_limit_1d", "rate_limit_7d", "concurrency", "rpm_limit")
EDITABLE = ("name", "group", "status", "quota", "ip_whitelist", "ip_blacklist", *LIMITS)


def key_status_badge(key: ApiKey) -> str:
    return badge(key.get_status_display(), STATUS_COLOURS.get(key.status, "grey"))


def key_quota_cell(key: ApiKey) -> str:
    if not key.has_quota:
        return format_html('<span class="sr-muted">{}</span>', _("Unlimited"))
    fraction = float(key.quota_used / key.quota)
    return bar(_("Quota"), fraction, f"{money(key.quota_used)} / {money(key.quota)}")


def key_windows_cell(key: ApiKey, now=None) -> str:
    """A bar per limited spend window with its reset time; the key's own concurrency and RPM if set."""
    now = now or timezone.now()
    pieces = []
    for window in windows.of(key):
        if not window.limited:
            continue
        resets = window.resets_at(now)
        note = (_("resets %(time)s") % {"time": timezone.localtime(resets).strftime("%m-%d %H:%M")}
                if resets else _("not started"))
        pieces.append(bar(window.name, window.fraction(now),
                          f"{money(window.used_now(now))} / {money(window.limit)}", note))
    if key.concurrency:
        pieces.append(format_html('<span class="sr-muted">{}</span>',
                                  _("%(n)d parallel") % {"n": key.concurrency}))
    if key.rpm_limit:
        pieces.append(format_html('<span class="sr-muted">{}</span>', _("%(n)d / min") % {"n": key.rpm_limit}))
    return stack(pieces) if pieces else none_label()


def key_expires_cell(key: ApiKey, now=None) -> str:
    if key.expires_at is None:
        return format_html('<span class="sr-muted">{}</span>', _("Never"))
    text = timezone.localtime(key.expires_at).strftime("%Y-%m-%d %H:%M")
    css = "sr-past" if key.is_expired(now) else ""
    return format_html('<span class="{}">{}</span>', css, text)


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin):
    form = ApiKeyForm
    list_display = (
        "name", "masked_key", "user", "group", "status_badge", "quota_column", "windows_column", "expires_column",
        "last_used_at", "created_at",
    )
    list_filter = ("status", "group")
    search_fields = ("name", "prefix", "user__email")
    list_select_related = ("user", "group")
    autocomplete_fields = ("user",)
    actions = ("reset_quota_selected", "clear_expiration_selected")
    actions_row = ("reset_quota_row", "clear_expiration_row")

    def get_fieldsets(self, request, obj=None):
        main = ("user", "name", "group") if obj is None else ("masked_key", "user", "name", "group", "status")
        quota_fields = ("quota",) if obj is None else ("quota", "quota_used_display")
        fieldsets = [
            (None, {"fields": main}),
            (_("Quota and expiry"), {"fields": (*quota_fields, "expires_enabled", "expires_at")}),
            (_("Limits"), {
                "fields": ("rate_limit_5h", "rate_limit_1d", "rate_limit_7d",
                           *(() if obj is None else ("windows_display", "reset_rate_limit_usage")),
                           "concurrency", "rpm_limit"),
                "description": _("Spend windows in USD (0 = off): 5 h from the first charge, 1 d and 7 d from "
                                 "the start of a day (UTC). A request past a limit is refused with 429 until the "
                                 "window resets."),
            }),
            (_("IP rules"), {"fields": ("ip_whitelist", "ip_blacklist")}),
        ]
        if obj is not None:
            fieldsets.append((_("Activity"), {"fields": ("last_used_at", "created_at")}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("masked_key", "user", "quota_used_display", "windows_display", "last_used_at", "created_at")

    conditional_fields = {"expires_at": "expires_enabled"}

    # --- columns ---------------------------------------------------------------------------------
    @display(description=_("key"))
    def masked_key(self, obj):
        return format_html("<code>{}</code>", obj.masked) if obj.pk else "-"

    @display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return key_status_badge(obj)

    @display(description=_("quota"), ordering="quota")
    def quota_column(self, obj):
        return key_quota_cell(obj)

    @display(description=_("spend windows"))
    def windows_column(self, obj):
        return key_windows_cell(obj)

    @display(description=_("window usage"))
    def windows_display(self, obj):
        return key_windows_cell(obj)

    @display(description=_("expires"), ordering="expires_at")
    def expires_column(self, obj):
        return key_expires_cell(obj)

    @display(description=_("quota used"))
    def quota_used_display(self, obj):
        if not obj.has_quota:
            return money(obj.quota_used)
        url = reverse("admin:apikeys_apikey_reset_quota_row", args=[obj.pk])
        return format_html('<div class="sr-inline">{}<a class="sr-badge sr-grey" href="{}">{}</a></div>',
                           key_quota_cell(obj), url, _("Reset"))

    # --- saving through the service --------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                fresh = self._update(obj, form)
            else:
                fresh, raw = services.create_key(
                    data["user"], name=data.get("name", ""), group=data.get("group"), quota=data["quota"],
                    ip_whitelist=data.get("ip_whitelist") or (), ip_blacklist=data.get("ip_blacklist") or (),
                    enforce_group_access=False, **{name: data[name] for name in LIMITS if name in data},
                )
                if data.get("expires_at"):
                    fresh = services.update_key(fresh, expires_at=data["expires_at"], enforce_group_access=False)
                self.message_user(request, format_html(
                    "{} <code class=\"sr-new-secret\">{}</code>",
                    _("Copy the new key now; it will not be shown again:"), raw,
                ), messages.WARNING)
        except services.KeyRuleError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(fresh, field.attname))
        obj._state.adding = False

    def _update(self, obj, form):
        data, changed = form.cleaned_data, set(form.changed_data)
        changes = {name: data[name] for name in EDITABLE if name in changed}
        if changed & {"expires_enabled", "expires_at"}:
            changes["expires_at"] = data.get("expires_at")
        if data.get("reset_rate_limit_usage"):
            changes["reset_rate_limit_usage"] = True
        key = ApiKey.objects.get(pk=obj.pk)
        return services.update_key(key, enforce_group_access=False, **changes)

    # --- actions ---------------------------------------------------------------------------------
    def _changelist(self):
        return redirect(reverse("admin:apikeys_apikey_changelist"))

    def _confirm_reset(self, request, keys, action_name=None):
        return confirm_page(
            self, request, question=_("Reset the used quota of these keys to 0?"),
            rows=[(k, f"{money(k.quota_used)} / {money(k.quota)}") for k in keys],
            detail_label=_("used / quota"), confirm_label=_("Reset quota"), action_name=action_name,
        )

    def _confirm_clear_expiry(self, request, keys, action_name=None):
        return confirm_page(
            self, request, question=_("Remove the expiration of these keys?"),
            rows=[(k, key_expires_cell(k)) for k in keys],
            detail_label=_("expires"), confirm_label=_("Clear expiration"), action_name=action_name,
        )

    @admin.action(description=_("Reset quota"), permissions=["change"])
    def reset_quota_selected(self, request, queryset):
        if not confirmed(request):
            return self._confirm_reset(request, queryset, "reset_quota_selected")
        for key in queryset:
            services.update_key(key, reset_quota=True, enforce_group_access=False)
        count = len(queryset)
        self.message_user(request, ngettext(
            "Quota reset for %(count)d key.", "Quota reset for %(count)d keys.", count) % {"count": count},
            messages.SUCCESS)
        return None

    @admin.action(description=_("Clear expiration"), permissions=["change"])
    def clear_expiration_selected(self, request, queryset):
        if not confirmed(request):
            return self._confirm_clear_expiry(request, queryset, "clear_expiration_selected")
        for key in queryset:
            services.update_key(key, expires_at=None, enforce_group_access=False)
        self.message_user(request, _("Expiration cleared."), messages.SUCCESS)
        return None

    @action(description=_("Reset quota"), url_path="reset-quota", permissions=["change"], icon="restart_alt")
    def reset_quota_row(self, request, object_id):
        key = get_object_or_404(ApiKey, pk=object_id)
        if not confirmed(request):
            return self._confirm_reset(request, [key])
        services.update_key(key, reset_quota=True, enforce_group_access=False)
        self.message_user(request, _("Quota reset successfully."), messages.SUCCESS)
        return self._changelist()

    @action(description=_("Clear expiration"), url_path="clear-expiration", permissions=["change"],
            icon="event_busy")
    def clear_expiration_row(self, request, object_id):
        key = get_object_or_404(ApiKey, pk=object_id)
        if not confirmed(request):
            return self._confirm_clear_expiry(request, [key])
        services.update_key(key, expires_at=None, enforce_group_access=False)
        self.message_user(request, _("Expiration cleared."), messages.SUCCESS)
        return self._changelist()


@admin.register(AdminApiKey)
class AdminApiKeyAdmin(ModelAdmin):
    """The admin API key is only ever rotated; its secret is shown once after rotation."""

    list_display = ("masked", "created_at")
    fields = ("masked", "created_at")
    readonly_fields = ("masked", "created_at")
    actions_list = ("rotate",)

    @display(description=_("key"))
    def masked(self, obj):
        return format_html("<code>{}…</code>", obj.secret[:10])

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_rotate_permission(self, request):
        return request.user.is_superuser

    @action(description=_("Rotate admin API key"), url_path="rotate", permissions=["rotate"], icon="autorenew")
    def rotate(self, request):
        if request.method != "POST":
            return confirm_page(
                self, request, question=_("Replace the admin API key? Scripts using the old key stop working."),
                rows=[(k, k.created_at) for k in AdminApiKey.objects.all()], detail_label=_("created"),
                confirm_label=_("Rotate admin API key"),
            )
        key = AdminApiKey.rotate()
        self.message_user(request, format_html(
            "{} <code class=\"sr-new-secret\">{}</code>", _("Copy the new admin API key now; it will not be shown "
                                                          "again:"), key.secret), messages.WARNING)
        return redirect(reverse("admin:apikeys_adminapikey_changelist"))
