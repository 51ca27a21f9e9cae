from datetime import timedelta
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import limits, quota
from accounts.signals import send_scheduling_changed
from core import patterns
from core.columns import ClampedIntegerField, within_columns
from core.fields import EncryptedTextField
from core.money import MoneyField
from groups.models import Platform


@within_columns
class Proxy(models.Model):
    class Protocol(models.TextChoices):
        HTTP = "http", "HTTP"
        HTTPS = "https", "HTTPS"
        SOCKS5 = "socks5", "SOCKS5"
        SOCKS5H = "socks5h", "SOCKS5H"

    name = models.CharField(_("name"), max_length=100)
    protocol = models.CharField(_("protocol"), max_length=10, choices=Protocol.choices, default=Protocol.HTTP)
    host = models.CharField(_("host"), max_length=255)
    port = models.PositiveIntegerField(_("port"), validators=[MinValueValidator(1), MaxValueValidator(65535)])
    username = models.CharField(_("username"), max_length=255, blank=True)
    password = EncryptedTextField(_("password"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("proxy")
        verbose_name_plural = _("proxies")
        ordering = ["id"]

    def __str__(self):
        return f"{self.name} ({self.protocol}://{self.host}:{self.port})"

    @property
    def url(self) -> str:
        auth = f"{self.username}:{self.password}@" if self.username else ""
        return f"{self.protocol}://{auth}{self.host}:{self.port}"


class AccountQuerySet(models.QuerySet):
    def reset_quota(self) -> int:
        count = self.update(**quota.reset_updates())
        send_scheduling_changed(Account)
        return count


@within_columns
class Account(models.Model):
    """An upstream credential owned by the admins, pooled into groups.

    The runtime columns (quota counters, last use, rate-limit/overload/temporary states) are written by
    the gateway with single UPDATE statements. A plain `save()` of an existing account never writes
    them, so an admin edit cannot overwrite what a request charged meanwhile; change them through the
    methods below (or `save(update_fields=[...])`).
    """

    class Type(models.TextChoices):
        OAUTH = "oauth", _("OAuth")
        SETUP_TOKEN = "setup-token", _("Setup token")
        APIKEY = "apikey", _("API key")
        BEDROCK = "bedrock", _("AWS Bedrock")
        UPSTREAM = "upstream", _("Upstream (legacy)")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        ERROR = "error", _("Error")
        DISABLED = "disabled", _("Disabled")

    class BedrockAuth(models.TextChoices):
        SIGV4 = "sigv4", _("SigV4 signing")
        APIKEY = "apikey", _("Bedrock API key")

    class CacheTTL(models.TextChoices):
        OFF = "", _("Off")
        FIVE_MINUTES = "5m", _("5 minutes")
        ONE_HOUR = "1h", _("1 hour")

    class ResetMode(models.TextChoices):
        ROLLING = quota.ROLLING, _("Rolling (from first use)")
        FIXED = quota.FIXED, _("Fixed time")

    class RpmStrategy(models.TextChoices):
        TIERED = "tiered", _("Tiered: sticky sessions may use the buffer")
        STICKY_EXEMPT = "sticky_exempt", _("Sticky sessions exempt")

    RUNTIME_FIELDS = frozenset({
        "window_cost_used", "window_cost_start",
        "quota_used", "quota_daily_used", "quota_daily_start", "quota_weekly_used", "quota_weekly_start",
        "last_used_at", "rate_limited_at", "rate_limit_reset_at", "overload_until",
        "temp_unschedulable_until", "temp_unschedulable_reason",
    })

    name = models.CharField(_("name"), max_length=100)
    notes = models.TextField(_("notes"), blank=True)
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices, default=Platform.ANTHROPIC)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices, default=Type.APIKEY)

    # Credentials. Secrets are encrypted at rest and never shown again after entry.
    base_url = models.URLField(_("base URL"), blank=True, help_text=_("Empty = the platform's default"))
    api_key = EncryptedTextField(_("API key"))
    access_token = EncryptedTextField(_("access token"))
    refresh_token = EncryptedTextField(_("refresh token"))
    token_expires_at = models.DateTimeField(_("token expires"), null=True, blank=True)
    bedrock_auth_mode = models.CharField(
        _("Bedrock authentication"), max_length=10, choices=BedrockAuth.choices, default=BedrockAuth.SIGV4
    )
    aws_access_key_id = models.CharField(_("AWS access key ID"), max_length=128, blank=True)
    aws_secret_access_key = EncryptedTextField(_("AWS secret access key"))
    aws_session_token = EncryptedTextField(_("AWS session token"))
    aws_region = models.CharField(_("AWS region"), max_length=32, default="us-east-1", blank=True)
    aws_force_global = models.BooleanField(_("force global inference profile"), default=False)

    model_mapping = models.JSONField(
        _("model mapping"), default=dict, blank=True,
        help_text=_('{"requested model": "upstream model"}; keys may end with *. Keys also restrict the models.'),
    )
    allowed_models = models.JSONField(
        _("allowed models"), default=list, blank=True, help_text=_("Empty = every model")
    )
    proxy = models.ForeignKey(Proxy, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("proxy"))

    # Scheduling.
    concurrency = models.IntegerField(
        _("concurrency"), default=3, help_text=_("0 = unlimited"), validators=[MinValueValidator(0)]
    )
    priority = models.IntegerField(_("priority"), default=50, help_text=_("Lower is preferred"))
    load_factor = models.IntegerField(
        _("load factor"), null=True, blank=True, help_text=_("Empty = concurrency"), validators=[MinValueValidator(0)]
    )
    rate_multiplier = models.DecimalField(
        _("account rate multiplier"), max_digits=10, decimal_places=4, default=1, validators=[MinValueValidator(0)],
        help_text=_("Multiplies the list price for this account's quota and stats; never what users pay"),
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    schedulable = models.BooleanField(_("schedulable"), default=True)
    error_message = models.TextField(_("error message"), blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    auto_pause_on_expired = models.BooleanField(_("pause when expired"), default=True)
    rate_limited_at = models.DateTimeField(_("rate limited at"), null=True, blank=True)
    rate_limit_reset_at = models.DateTimeField(_("rate limit resets"), null=True, blank=True)
    overload_until = models.DateTimeField(_("overloaded until"), null=True, blank=True)
    temp_unschedulable_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    temp_unschedulable_reason = models.TextField(_("pause reason"), blank=True)
    pool_mode = models.BooleanField(
        _("pool mode"), default=False, help_text=_("Retry on the same account instead of marking it (upstream pools)")
    )
    pool_mode_retry_count = ClampedIntegerField(
        _("pool mode retries"), default=3, low=0, high=10, help_text=_("0 to 10; a larger number counts as 10")
    )
    cache_ttl_override = models.CharField(
        _("cache TTL override"), max_length=2, choices=CacheTTL.choices, default=CacheTTL.OFF, blank=True,
        help_text=_("OAuth / setup-token accounts: bill every cache write as this TTL"),
    )

    # Spend quota (apikey and bedrock accounts), USD; 0 = no limit. See accounts/quota.py.
    quota_limit = MoneyField(_("total limit"), default=0, validators=[MinValueValidator(0)])
    quota_used = MoneyField(_("total used"), default=0)
    quota_daily_limit = MoneyField(_("daily limit"), default=0, validators=[MinValueValidator(0)])
    quota_daily_used = MoneyField(_("daily used"), default=0)
    quota_daily_start = models.DateTimeField(_("daily period start"), null=True, blank=True)
    quota_weekly_limit = MoneyField(_("weekly limit"), default=0, validators=[MinValueValidator(0)])
    quota_weekly_used = MoneyField(_("weekly used"), default=0)
    quota_weekly_start = models.DateTimeField(_("weekly period start"), null=True, blank=True)
    quota_daily_reset_mode = models.CharField(
        _("daily reset"), max_length=10, choices=ResetMode.choices, default=quota.ROLLING
    )
    quota_daily_reset_hour = models.PositiveSmallIntegerField(_("daily reset hour"), default=0)
    quota_weekly_reset_mode = models.CharField(
        _("weekly reset"), max_length=10, choices=ResetMode.choices, default=quota.ROLLING
    )
    quota_weekly_reset_day = models.PositiveSmallIntegerField(_("weekly reset day (0 = Sunday)"), default=1)
    quota_weekly_reset_hour = models.PositiveSmallIntegerField(_("weekly reset hour"), default=0)
    quota_reset_timezone = models.CharField(_("reset time zone"), max_length=64, default="UTC")

    # Limits of Anthropic OAuth / setup-token accounts, scheduler filters (accounts/limits.py); 0 = off.
    base_rpm = models.IntegerField(
        _("base RPM"), default=0, validators=[MinValueValidator(0)],
        help_text=_("Requests per minute new sessions may start; 0 = no limit"),
    )
    rpm_strategy = models.CharField(
        _("RPM strategy"), max_length=20, choices=RpmStrategy.choices, default=RpmStrategy.TIERED,
        help_text=_("Tiered: beyond the base RPM only sticky sessions, up to the buffer; "
                    "sticky exempt: sticky sessions are never limited"),
    )
    rpm_sticky_buffer = models.IntegerField(
        _("RPM sticky buffer"), null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("Extra requests per minute for sticky sessions (tiered); empty = 20% of the base RPM, at least 1"),
    )
    max_sessions = models.IntegerField(
        _("max sessions"), default=0, validators=[MinValueValidator(0)],
        help_text=_("Conversations active at once; 0 = no limit"),
    )
    session_idle_timeout_minutes = models.IntegerField(
        _("session idle timeout (minutes)"), default=5, validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text=_("A session without requests for this long no longer counts"),
    )
    window_cost_limit = MoneyField(
        _("window cost limit"), default=0, validators=[MinValueValidator(0)],
        help_text=_("USD of account cost per 5-hour window (from the first charge); 0 = no limit"),
    )
    window_cost_sticky_reserve = MoneyField(
        _("window cost sticky reserve"), default=10, validators=[MinValueValidator(0)],
        help_text=_("Beyond the limit, sticky sessions may still spend this much in the window"),
    )
    window_cost_used = MoneyField(_("window cost used"), default=0)
    window_cost_start = models.DateTimeField(_("window cost start"), null=True, blank=True)

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["priority", "id"]
        indexes = [models.Index(fields=["platform", "status", "schedulable"])]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if self.pk and not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in self.RUNTIME_FIELDS
            ]
        super().save(*args, **kwargs)

    # --- what the scheduler asks ---------------------------------------------------------------
    @property
    def is_oauth(self) -> bool:
        return self.type in (self.Type.OAUTH, self.Type.SETUP_TOKEN)

    def unschedulable_reason(self, now=None) -> str | None:
        """Why the account cannot take a request now, or None. The one home of that rule."""
        now = now or timezone.now()
        if self.status != self.Status.ACTIVE:
            return f"status {self.status}"
        if not self.schedulable:
            return "paused by admin"
        if self.auto_pause_on_expired and self.expires_at and self.expires_at <= now:
            return "expired"
        if self.rate_limit_reset_at and self.rate_limit_reset_at > now:
            return "rate limited"
        if self.overload_until and self.overload_until > now:
            return "overloaded"
        if self.temp_unschedulable_until and self.temp_unschedulable_until > now:
            return "temporarily unschedulable"
        if quota.exceeded(self, now):
            return "quota exceeded"
        if limits.window_cost_zone(self, now) == limits.NOT_SCHEDULABLE:
            return "window cost limit reached"
        return None

    def is_schedulable(self, now=None) -> bool:
        return self.unschedulable_reason(now) is None

    def supports_model(self, model: str) -> bool:
        if self.allowed_models and patterns.best_match(self.allowed_models, model) is None:
            return False
        return not self.model_mapping or self.mapped_model(model) is not None

    def mapped_model(self, model: str) -> str | None:
        """The upstream model for a requested one: exact key, then the longest matching `prefix*`.

        Without a mapping every model passes through unchanged; with one, unmapped models are None.
        """
        if not self.model_mapping:
            return model
        pattern = patterns.best_match(self.model_mapping, model)
        if pattern is None:
            return None
        target = self.model_mapping[pattern]
        return target if target and not patterns.is_wildcard(target) else model

    @property
    def effective_load_factor(self) -> int:
        return self.load_factor or self.concurrency

    @property
    def cost_multiplier(self) -> Decimal:
        return self.rate_multiplier if self.rate_multiplier >= 0 else Decimal(1)

    # --- quota -----------------------------------------------------------------------------------
    @property
    def has_quota(self) -> bool:
        return quota.has_limits(self)

    def quota_exceeded(self, now=None) -> bool:
        return quota.exceeded(self, now)

    def charge_quota(self, amount: Decimal, now=None) -> bool:
        """Add one request's account cost to every quota dimension in one UPDATE.

        Returns whether the account is now over a limit (the scheduler must then drop it). Call it
        inside the charge transaction.
        """
        if not self.has_quota or amount <= 0:
            return False
        now = now or timezone.now()
        Account.objects.filter(pk=self.pk).update(**quota.increment_updates(self, amount, now))
        fresh = Account.objects.only(*quota.COUNTER_FIELDS).get(pk=self.pk)
        for name in quota.COUNTER_FIELDS:
            setattr(self, name, getattr(fresh, name))
        exceeded = quota.exceeded(self, now)
        if exceeded:
            # After the commit: a scheduler reloading before it would cache the account as still under.
            transaction.on_commit(lambda: send_scheduling_changed(Account))
        return exceeded

    # --- limits of OAuth / setup-token accounts (accounts/limits.py) --------------------------------
    def charge_window_cost(self, amount: Decimal, now=None) -> None:
        """Add one request's account cost to the 5-hour window in one UPDATE (inside the charge
        transaction). Crossing into another zone (sticky-only, not schedulable) tells the scheduler."""
        if not limits.has_window_cost(self) or amount <= 0:
            return
        now = now or timezone.now()
        before = limits.window_cost_zone(self, now)
        Account.objects.filter(pk=self.pk).update(**limits.window_increment_updates(amount, now))
        fresh = Account.objects.only("window_cost_used", "window_cost_start").get(pk=self.pk)
        self.window_cost_used, self.window_cost_start = fresh.window_cost_used, fresh.window_cost_start
        if limits.window_cost_zone(self, now) != before:
            transaction.on_commit(lambda: send_scheduling_changed(Account))

    def reset_quota(self):
        updates = quota.reset_updates()
        Account.objects.filter(pk=self.pk).update(**updates)
        for name, value in updates.items():
            setattr(self, name, Decimal(value) if isinstance(value, int) else value)
        send_scheduling_changed(Account)

    def apply_quota_config(self, now=None):
        """After the admin changed quota settings: restart fixed windows that predate their boundary."""
        updates = quota.normalized_fixed_windows(self, now or timezone.now())
        if updates:
            Account.objects.filter(pk=self.pk).update(**updates)
            for name, value in updates.items():
                setattr(self, name, Decimal(value) if isinstance(value, int) else value)
            send_scheduling_changed(Account)

    # --- state changes from upstream answers ----------------------------------------------------
    def set_state(self, **fields):
        """Write runtime/state columns in one UPDATE and keep this instance in step."""
        Account.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)
        send_scheduling_changed(Account)

    def mark_rate_limited(self, reset_at):
        self.set_state(rate_limited_at=timezone.now(), rate_limit_reset_at=reset_at)

    def mark_overloaded(self, minutes: int):
        self.set_state(overload_until=timezone.now() + timedelta(minutes=minutes))

    def mark_temp_unschedulable(self, minutes: int, reason: str):
        self.set_state(
            temp_unschedulable_until=timezone.now() + timedelta(minutes=minutes), temp_unschedulable_reason=reason
        )

    def mark_error(self, message: str):
        self.set_state(status=self.Status.ERROR, error_message=message[:2000])

    def clear_rate_limit(self):
        self.set_state(
            rate_limited_at=None, rate_limit_reset_at=None, overload_until=None,
            temp_unschedulable_until=None, temp_unschedulable_reason="",
        )

    def clear_error(self):
        with transaction.atomic():
            self.set_state(status=self.Status.ACTIVE, error_message="")
            self.clear_rate_limit()


@within_columns
class BetaRule(models.Model):
    """One rule of the Beta Policy (spec S3): what happens to an `anthropic-beta` token on its way to the
    accounts of a scope. Rules are read in order; the first that names the token decides."""

    class Action(models.TextChoices):
        PASS = "pass", _("Pass (send it on)")
        FILTER = "filter", _("Filter (drop the token)")
        BLOCK = "block", _("Block (refuse the request)")

    class Scope(models.TextChoices):
        ALL = "all", _("All accounts")
        OAUTH = "oauth", _("OAuth / setup-token accounts")
        APIKEY = "apikey", _("API-key accounts (not Bedrock)")
        BEDROCK = "bedrock", _("Bedrock accounts")

    position = models.PositiveIntegerField(_("order"), default=0)
    beta_token = models.CharField(_("beta token"), max_length=200, help_text=_("e.g. context-1m-2025-08-07"))
    action = models.CharField(_("action"), max_length=10, choices=Action.choices, default=Action.FILTER)
    scope = models.CharField(_("applies to"), max_length=10, choices=Scope.choices, default=Scope.ALL)
    error_message = models.CharField(
        _("error message"), max_length=500, blank=True, help_text=_("What a blocked client is told")
    )

    class Meta:
        verbose_name = _("beta policy rule")
        verbose_name_plural = _("beta policy")
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.get_action_display()}: {self.beta_token} ({self.get_scope_display()})"

    def applies_to(self, scope: str) -> bool:
        """Whether the rule covers accounts of `scope` (an upstream's beta scope)."""
        if self.scope == self.Scope.ALL or self.scope not in self.Scope.values:  # unknown: fail open, as the spec
            return True
        return self.scope == scope
