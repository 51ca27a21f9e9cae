from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import MoneyField, usd


class ModelPrice(models.Model):
    """The admin's price for a model, per million tokens; it overrides the shipped table."""

    model = models.CharField(_("model"), max_length=100, unique=True)
    input = MoneyField(_("input / MTok"))
    output = MoneyField(_("output / MTok"))
    cache_read = MoneyField(_("cache read / MTok"), default=0)
    cache_write_5m = MoneyField(_("cache write 5m / MTok"), default=0)
    cache_write_1h = MoneyField(_("cache write 1h / MTok"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")
        ordering = ["model"]

    def __str__(self):
        return self.model


class UsageLogQuerySet(models.QuerySet):
    def priced_by_fallback(self):
        """Models charged at the fallback price: [{model, requests, last_seen}], most recent first."""
        return (
            self.filter(priced_by_fallback=True).values("model")
            .annotate(requests=models.Count("id"), last_seen=models.Max("created_at")).order_by("-last_seen")
        )

    def totals(self) -> dict:
        """Requests, each token kind and both costs (Decimal dollars) of these logs; zeros when empty."""
        sums = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "total_cost",
                "actual_cost")
        row = self.order_by().aggregate(requests=models.Count("id"), **{name: models.Sum(name) for name in sums})
        totals = {name: row[name] or 0 for name in ("requests", *sums)}
        totals["total_cost"] = row["total_cost"] or Decimal(0)
        totals["actual_cost"] = row["actual_cost"] or Decimal(0)
        totals["tokens"] = sum(totals[name] for name in sums[:4])
        return totals


class UsageLog(models.Model):
    """One billed gateway request. (request_id, api_key) is unique, so a retry never charges twice."""

    class BillingType(models.IntegerChoices):
        BALANCE = 0, _("Balance")
        SUBSCRIPTION = 1, _("Subscription")

    request_id = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_logs")
    api_key = models.ForeignKey("apikeys.ApiKey", null=True, on_delete=models.SET_NULL, related_name="usage_logs")
    account = models.ForeignKey("accounts.Account", null=True, on_delete=models.SET_NULL, related_name="usage_logs")
    group = models.ForeignKey("groups.Group", null=True, on_delete=models.SET_NULL, related_name="usage_logs")
    subscription = models.ForeignKey("users.Subscription", null=True, blank=True, on_delete=models.SET_NULL)
    model = models.CharField(_("model"), max_length=100)
    upstream_model = models.CharField(_("upstream model"), max_length=100, null=True, blank=True)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_creation_tokens = models.BigIntegerField(default=0)
    cache_creation_5m_tokens = models.BigIntegerField(default=0)
    cache_creation_1h_tokens = models.BigIntegerField(default=0)
    input_cost = MoneyField(default=0)
    output_cost = MoneyField(default=0)
    cache_read_cost = MoneyField(default=0)
    cache_creation_cost = MoneyField(default=0)
    total_cost = MoneyField(_("list cost"), default=0)
    actual_cost = MoneyField(_("charged"), default=0)
    rate_multiplier = models.DecimalField(max_digits=10, decimal_places=4, default=1)
    account_rate_multiplier = models.DecimalField(max_digits=10, decimal_places=4, default=1)
    billing_type = models.SmallIntegerField(choices=BillingType.choices, default=BillingType.BALANCE)
    stream = models.BooleanField(default=False)
    duration_ms = models.IntegerField(null=True, blank=True)
    first_token_ms = models.IntegerField(null=True, blank=True)
    status = models.SmallIntegerField(_("HTTP status"), default=200)
    endpoint = models.CharField(max_length=100, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    ip_address = models.CharField(max_length=45, blank=True)
    cache_ttl_overridden = models.BooleanField(default=False)
    service_tier = models.CharField(
        _("service tier"), max_length=16, blank=True, default="",
        help_text=_("OpenAI's processing tier of the answer; priority and flex change the price"),
    )
    priced_by_fallback = models.BooleanField(
        default=False, help_text=_("The model was not in the price table; the fallback price was used")
    )
    usage_incomplete = models.BooleanField(
        _("usage incomplete"), default=False,
        help_text=_("The client left and the upstream's final usage could not be read in time: charged what was seen"),
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = UsageLogQuerySet.as_manager()

    class Meta:
        verbose_name = _("usage log")
        verbose_name_plural = _("usage logs")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["request_id", "api_key"], name="uniq_usage_request_key")]
        indexes = [
            models.Index(fields=["created_at", "model", "upstream_model"]),
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["api_key", "created_at"]),
            models.Index(fields=["account", "created_at"]),
        ]

    def __str__(self):
        return f"{self.request_id} {self.model}"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_creation_tokens


class FailedCharge(models.Model):
    """A charge that could not be applied (not a passing database error): kept, shown to the admin, retried.

    `payload` is the whole charge request as JSON (ASCII-escaped, so even text the usage log refused can be
    stored); retrying applies it through the one charge transaction, which stays idempotent by request id.
    """

    request_id = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    error = models.TextField(_("error"))
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    created_at = models.DateTimeField(_("failed at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    usage_log = models.ForeignKey(UsageLog, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("failed charge")
        verbose_name_plural = _("failed charges")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.request_id} ({'resolved' if self.resolved_at else 'open'})"


class BalanceChange(models.Model):
    """One change of a user's balance by a person (not a gateway charge: those are usage logs).

    Written only by `billing.balance`, in the same transaction as the balance update, so the history and
    the balance never disagree.
    """

    class Kind(models.TextChoices):
        ADMIN = "admin", _("Admin page")
        API = "api", _("REST API")
        CLI = "cli", _("Command line")
        PORTAL = "portal", _("Portal")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="balance_changes", verbose_name=_("user")
    )
    amount = MoneyField(_("amount (USD)"), help_text=_("Positive adds to the balance, negative takes away"))
    balance_after = MoneyField(_("balance after (USD)"))
    kind = models.CharField(_("made through"), max_length=16, choices=Kind.choices)
    note = models.TextField(_("note"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("made by"), help_text=_("Empty for the command line and for deleted admins"),
    )
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("balance change")
        verbose_name_plural = _("balance changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self):
        sign = "+" if self.amount >= 0 else "−"
        return f"{sign}{usd(abs(self.amount))} ({self.get_kind_display()})"
