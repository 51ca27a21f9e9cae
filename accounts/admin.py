"""Admin for upstream accounts and proxies: quota badges and bars (S4/S1), scheduling state, reset and
clear actions with confirmation, Bedrock auth-mode form (S3), write-only secrets.

Every quota figure shown goes through accounts.quota (used_now / resets_at / usage_fraction / exceeded),
so a lapsed daily or weekly period shows 0 here exactly as the scheduler sees it.
"""

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timeuntil
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from accounts import quota
from accounts.admin_limits import limits_badges
from accounts.forms import AccountForm, ProxyForm
from accounts.models import Account, Proxy
from core.display import badge, bar, confirm_page, confirmed, level, money, none_label, stack, when
from gateway.probe import probe
from usage.query import grouped
from usage.stats import make_filter

ANY_OAUTH = "type == 'oauth' || type == 'setup-token'"
QUOTA_TYPES = "type == 'apikey' || type == 'bedrock'"
BEDROCK = "type == 'bedrock'"


def account_state(account: Account, now=None) -> tuple[str, str]:
    """(label, css level) of why the account can or cannot take requests, from unschedulable_reason."""
    now = now or timezone.now()
    reason = account.unschedulable_reason(now)
    if reason is None:
        return str(_("Active")), "ok"
    if reason == "rate limited":
        return str(_("Rate limited until %(time)s") % {"time": when(account.rate_limit_reset_at)}), "warn"
    if reason == "overloaded":
        return str(_("Overloaded until %(time)s") % {"time": when(account.overload_until)}), "warn"
    if reason == "temporarily unschedulable":
        label = _("Paused until %(time)s (%(reason)s)") % {
            "time": when(account.temp_unschedulable_until), "reason": account.temp_unschedulable_reason or "-",
        }
        return str(label), "warn"
    if reason == "quota exceeded":
        return str(_("Quota exceeded")), "over"
    if reason == "expired":
        return str(_("Expired")), "over"
    if reason == "paused by admin":
        return str(_("Not schedulable (paused by admin)")), "grey"
    if account.status == Account.Status.ERROR:
        return str(_("Error: %(message)s") % {"message": account.error_message or "-"}), "over"
    return str(account.get_status_display()), "grey"


def test_account(account: Account) -> tuple[str, int]:
    """(message, messages level) of one minimal request through the account's upstream (gateway.probe)."""
    result = async_to_sync(probe)(account)
    if result.ok:
        return _("“%(name)s” works: %(detail)s") % {"name": account.name, "detail": result.message}, messages.SUCCESS
    return _("“%(name)s” failed: %(detail)s") % {"name": account.name, "detail": result.message}, messages.ERROR


def today_by_account(ids) -> dict[int, dict]:
    """{account id: {requests, errors, account_cost}} since midnight in the admin's zone (usage.stats)."""
    ids = set(ids)
    if not ids:
        return {}
    today = make_filter(timezone=timezone.get_current_timezone_name(), default_days=1)
    return {row["account_id"]: row for row in grouped(today, ["account_id"]) if row["account_id"] in ids}


def today_summary(row: dict | None) -> str:
    """`12 requests`, `1 error` (red when any) and the account's cost today."""
    requests, errors, cost = (row["requests"], row["errors"], row["account_cost"]) if row else (0, 0, None)
    if not requests:
        return format_html('<span class="sr-muted">{}</span>', _("no requests today"))
    pieces = [
        badge(ngettext("%(count)d request", "%(count)d requests", requests) % {"count": requests}, "grey"),
        badge(ngettext("%(count)d error", "%(count)d errors", errors) % {"count": errors}, "over" if errors else "ok"),
        badge(money(cost), "blue", _("The account's cost today (list price × account rate multiplier)")),
    ]
    return format_html('<div class="sr-badges">{}{}{}</div>', *pieces)


def group_badges(account: Account) -> str:
    names = [g.name for g in account.groups.all()]  # prefetched by the changelist
    if not names:
        return format_html('<span class="sr-muted">{}</span>', _("no group"))
    return format_html('<div class="sr-badges">{}</div>',
                       format_html("".join(["{}"] * len(names)), *(badge(n, "grey") for n in names)))


def quota_badges(account: Account, now=None) -> str:
    """Compact `D $used/$limit`, `W …`, `$ …` badges, coloured by fullness."""
    if not quota.has_limits(account):
        return none_label()
    now = now or timezone.now()
    dims = [
        ("D", quota.used_now(account, quota.DAILY, now), account.quota_daily_limit),
        ("W", quota.used_now(account, quota.WEEKLY, now), account.quota_weekly_limit),
        ("$", account.quota_used, account.quota_limit),
    ]
    pieces = []
    for letter, used, limit in dims:
        if not limit > 0:
            continue
        css = level(quota.usage_fraction(used, limit))
        title = _("Quota exceeded, account paused") if css == "over" else _("Quota normal")
        pieces.append(badge(f"{letter} {money(used)}/{money(limit)}", css, title))
    return format_html('<div class="sr-badges">{}</div>', format_html("".join(["{}"] * len(pieces)), *pieces))


def quota_bars(account: Account, now=None) -> str:
    """1d / 7d / total usage bars with the time left until the period resets."""
    if not quota.has_limits(account):
        return none_label()
    now = now or timezone.now()
    rows = []
    for label, period in ((_("1d"), quota.DAILY), (_("7d"), quota.WEEKLY)):
        limit = getattr(account, period.field("limit"))
        if not limit > 0:
            continue
        used = quota.used_now(account, period, now)
        reset = quota.resets_at(account, period, now)
        note = _("resets in %(time)s") % {"time": timeuntil(reset, now)} if reset else ""
        rows.append(bar(label, quota.usage_fraction(used, limit), f"{money(used)} / {money(limit)}", note))
    if account.quota_limit > 0:
        used = account.quota_used
        rows.append(bar(_("total"), quota.usage_fraction(used, account.quota_limit),
                        f"{money(used)} / {money(account.quota_limit)}"))
    return stack(rows)


@admin.register(Proxy)
class ProxyAdmin(ModelAdmin):
    form = ProxyForm
    list_display = ("name", "protocol", "host", "port", "username", "is_active", "created_at")
    list_filter = ("protocol", "is_active")
    search_fields = ("name", "host")
    fields = ("name", "protocol", "host", "port", "username", "password", "is_active")


@admin.register(Account)
class AccountAdmin(ModelAdmin):
    form = AccountForm
    list_display = (
        "name", "type_badge", "groups_column", "state", "today_column", "quota_column", "usage_column", "limits_now",
        "priority", "concurrency", "last_used_at",
    )
    list_filter = ("platform", "type", "status", "schedulable")
    search_fields = ("name", "notes")
    ordering = ("priority", "id")
    readonly_fields = ("state_readonly", "usage_readonly", "last_used_at", "created_at", "updated_at")
    actions = ("test_selected", "reset_quota_selected", "clear_rate_limit_selected", "clear_error_selected")
    actions_row = ("test_row", "reset_quota_row", "clear_rate_limit_row", "clear_error_row")
    actions_detail = ("test_detail",)
    fieldsets = (
        (None, {"fields": ("name", "platform", "type", "status", "schedulable", "notes")}),
        (_("Credentials"), {"fields": (
            "bedrock_auth_mode", "base_url", "api_key", "access_token", "refresh_token", "token_expires_at",
            "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
            "aws_region", "aws_force_global", "proxy",
        )}),
        (_("Models"), {"fields": ("model_mapping", "allowed_models")}),
        (_("Scheduling"), {"fields": (
            "groups", "priority", "concurrency", "load_factor", "rate_multiplier", "expires_at",
            "auto_pause_on_expired", "pool_mode", "pool_mode_retry_count", "cache_ttl_override",
        )}),
        (_("Quota limit"), {"fields": (
            "quota_enabled", "quota_daily_limit", "quota_weekly_limit", "quota_limit",
            "quota_daily_reset_mode", "quota_daily_reset_hour", "quota_weekly_reset_mode", "quota_weekly_reset_day",
            "quota_weekly_reset_hour", "quota_reset_timezone",
        )}),
        (_("Limits (OAuth / setup-token)"), {"fields": AccountForm.ACCOUNT_LIMIT_FIELDS}),
        (_("State"), {"fields": (
            "state_readonly", "usage_readonly", "error_message", "last_used_at", "created_at", "updated_at",
        )}),
    )
    conditional_fields = {
        "base_url": "type != 'bedrock'",
        "api_key": "type == 'apikey' || type == 'upstream' || (type == 'bedrock' && bedrock_auth_mode == 'apikey')",
        "access_token": ANY_OAUTH,
        "refresh_token": ANY_OAUTH,
        "token_expires_at": ANY_OAUTH,
        "cache_ttl_override": ANY_OAUTH,
        "bedrock_auth_mode": BEDROCK,
        "aws_access_key_id": f"{BEDROCK} && bedrock_auth_mode != 'apikey'",
        "aws_secret_access_key": f"{BEDROCK} && bedrock_auth_mode != 'apikey'",
        "aws_session_token": f"{BEDROCK} && bedrock_auth_mode != 'apikey'",
        "aws_region": BEDROCK,
        "aws_force_global": BEDROCK,
        "pool_mode": QUOTA_TYPES,
        "pool_mode_retry_count": f"({QUOTA_TYPES}) && pool_mode",
        "quota_enabled": QUOTA_TYPES,
        **dict.fromkeys(AccountForm.ACCOUNT_LIMIT_FIELDS, ANY_OAUTH),
        **{
            name: f"({QUOTA_TYPES}) && quota_enabled"
            for name in ("quota_daily_limit", "quota_weekly_limit", "quota_limit", "quota_daily_reset_mode",
                         "quota_weekly_reset_mode", "quota_reset_timezone")
        },
        "quota_daily_reset_hour": f"({QUOTA_TYPES}) && quota_enabled && quota_daily_reset_mode == 'fixed'",
        "quota_weekly_reset_day": f"({QUOTA_TYPES}) && quota_enabled && quota_weekly_reset_mode == 'fixed'",
        "quota_weekly_reset_hour": f"({QUOTA_TYPES}) && quota_enabled && quota_weekly_reset_mode == 'fixed'",
    }

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_changelist(self, request, **kwargs):
        """The list's ChangeList, also reading today's numbers of the page's accounts in one query."""
        base = super().get_changelist(request, **kwargs)

        class AccountChangeList(base):
            def get_results(self, request):
                super().get_results(request)
                today = today_by_account(a.pk for a in self.result_list)
                for account in self.result_list:
                    account.today = today.get(account.pk)

        return AccountChangeList

    # --- list columns ----------------------------------------------------------------------------
    @display(description=_("groups"))
    def groups_column(self, obj):
        return group_badges(obj)

    @display(description=_("type"), ordering="type")
    def type_badge(self, obj):
        text = "Anthropic | AWS" if obj.type == Account.Type.BEDROCK else f"{obj.get_platform_display()} | " \
            f"{obj.get_type_display()}"
        return badge(text, "blue")

    @display(description=_("state"))
    def state(self, obj):
        label, css = account_state(obj)
        return badge(label, css, obj.error_message if obj.status == Account.Status.ERROR else "")

    @display(description=_("today"))
    def today_column(self, obj):
        return today_summary(getattr(obj, "today", None))

    @display(description=_("quota"))
    def quota_column(self, obj):
        return quota_badges(obj)

    @display(description=_("usage"))
    def usage_column(self, obj):
        return quota_bars(obj)

    @display(description=_("limits now"))
    def limits_now(self, obj):
        return limits_badges(obj)

    @display(description=_("state"))
    def state_readonly(self, obj):
        return self.state(obj) if obj.pk else "-"

    @display(description=_("quota usage"))
    def usage_readonly(self, obj):
        if not obj.pk or not quota.has_limits(obj):
            return none_label()
        url = reverse("admin:accounts_account_reset_quota_row", args=[obj.pk])
        return format_html('<div class="sr-inline">{}{}<a class="sr-badge sr-grey" href="{}">{}</a></div>',
                           quota_badges(obj), quota_bars(obj), url, _("Reset quota"))

    # --- saving ----------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)  # save() leaves the runtime counters alone
        obj.apply_quota_config()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.save_groups(form.instance)

    # --- actions ---------------------------------------------------------------------------------
    def _reset_rows(self, accounts):
        now = timezone.now()
        return [
            (a, ", ".join(f"{name} {money(used)}" for name, used in (
                (_("daily"), quota.used_now(a, quota.DAILY, now)),
                (_("weekly"), quota.used_now(a, quota.WEEKLY, now)),
                (_("total"), a.quota_used),
            )))
            for a in accounts
        ]

    def _confirm_reset(self, request, accounts, action_name=None):
        return confirm_page(
            self, request, question=_("Reset the used quota of these accounts to 0?"),
            rows=self._reset_rows(accounts), detail_label=_("used now"), confirm_label=_("Reset quota"),
            action_name=action_name,
        )

    @admin.action(description=_("Test (one minimal request)"), permissions=["change"])
    def test_selected(self, request, queryset):
        for account in queryset:
            self.message_user(request, *test_account(account))

    @admin.action(description=_("Reset quota"), permissions=["change"])
    def reset_quota_selected(self, request, queryset):
        if not confirmed(request):
            return self._confirm_reset(request, queryset, "reset_quota_selected")
        count = queryset.reset_quota()
        self.message_user(request, ngettext(
            "Quota reset for %(count)d account.", "Quota reset for %(count)d accounts.", count
        ) % {"count": count}, messages.SUCCESS)
        return None

    @admin.action(description=_("Clear rate limit"), permissions=["change"])
    def clear_rate_limit_selected(self, request, queryset):
        for account in queryset:
            account.clear_rate_limit()
        self.message_user(request, _("Rate limit cleared."), messages.SUCCESS)

    @admin.action(description=_("Clear error"), permissions=["change"])
    def clear_error_selected(self, request, queryset):
        for account in queryset:
            account.clear_error()
        self.message_user(request, _("Error cleared; the account is active again."), messages.SUCCESS)

    def _changelist(self):
        return redirect(reverse("admin:accounts_account_changelist"))

    @action(description=_("Test"), url_path="test", permissions=["change"], icon="network_check")
    def test_row(self, request, object_id):
        self.message_user(request, *test_account(get_object_or_404(Account, pk=object_id)))
        return self._changelist()

    @action(description=_("Test"), url_path="test-detail", permissions=["change"], icon="network_check")
    def test_detail(self, request, object_id):
        self.message_user(request, *test_account(get_object_or_404(Account, pk=object_id)))
        return redirect(reverse("admin:accounts_account_change", args=[object_id]))

    @action(description=_("Reset quota"), url_path="reset-quota", permissions=["change"], icon="restart_alt")
    def reset_quota_row(self, request, object_id):
        account = get_object_or_404(Account, pk=object_id)
        if not confirmed(request):
            return self._confirm_reset(request, [account])
        account.reset_quota()
        self.message_user(request, _("Quota reset for “%(name)s”.") % {"name": account.name}, messages.SUCCESS)
        return self._changelist()

    @action(description=_("Clear rate limit"), url_path="clear-rate-limit", permissions=["change"], icon="timer_off")
    def clear_rate_limit_row(self, request, object_id):
        if request.method != "POST":
            return self._confirm_simple(request, object_id, _("Clear the rate limit of this account?"),
                                        _("Clear rate limit"))
        get_object_or_404(Account, pk=object_id).clear_rate_limit()
        self.message_user(request, _("Rate limit cleared."), messages.SUCCESS)
        return self._changelist()

    @action(description=_("Clear error"), url_path="clear-error", permissions=["change"], icon="healing")
    def clear_error_row(self, request, object_id):
        if request.method != "POST":
            return self._confirm_simple(request, object_id, _("Clear the error and reactivate this account?"),
                                        _("Clear error"))
        get_object_or_404(Account, pk=object_id).clear_error()
        self.message_user(request, _("Error cleared; the account is active again."), messages.SUCCESS)
        return self._changelist()

    def _confirm_simple(self, request, object_id, question, confirm_label):
        account = get_object_or_404(Account, pk=object_id)
        return confirm_page(self, request, question=question, rows=[(account, account_state(account)[0])],
                            detail_label=_("state"), confirm_label=confirm_label)

from accounts import admin_betapolicy  # noqa: E402,F401  (the Beta Policy page)
