"""Pre-aggregated usage: hourly and daily rollups of billing.UsageLog, and the watermark they reach.

A rollup row sums the logs of one bucket for one combination of the dimensions below. Rollups hold
exactly the logs created before `AggregationState.watermark`; statistics add the raw logs after it (the
live tail), so a dashboard is always current without scanning the whole log table.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.money import MoneyField

# The columns a rollup is grouped by (the same names as on billing.UsageLog).
DIMENSIONS = (
    "user_id", "api_key_id", "account_id", "group_id", "model", "upstream_model", "stream", "billing_type",
)
TOKEN_MEASURES = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "cache_creation_5m_tokens", "cache_creation_1h_tokens",
)
COST_MEASURES = (
    "input_cost", "output_cost", "cache_read_cost", "cache_creation_cost", "total_cost", "actual_cost",
    "account_cost",
)
MEASURES = ("requests", "errors", *TOKEN_MEASURES, *COST_MEASURES, "duration_ms")


class Rollup(models.Model):
    bucket = models.DateTimeField(_("bucket"))
    # Plain ids, not foreign keys: a rollup outlives the key, account or group it counts.
    user_id = models.BigIntegerField(_("user"))
    api_key_id = models.BigIntegerField(_("API key"), null=True)
    account_id = models.BigIntegerField(_("account"), null=True)
    group_id = models.BigIntegerField(_("group"), null=True)
    model = models.CharField(_("model"), max_length=100)
    upstream_model = models.CharField(_("upstream model"), max_length=100, null=True)
    stream = models.BooleanField(_("stream"), default=False)
    billing_type = models.SmallIntegerField(_("billing type"), default=0)

    requests = models.BigIntegerField(_("requests"), default=0)
    errors = models.BigIntegerField(_("errors"), default=0)
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
    # total_cost × the account's rate multiplier, rounded per log: what the upstream account was charged.
    account_cost = MoneyField(_("account cost"), default=0)
    duration_ms = models.BigIntegerField(_("total duration (ms)"), default=0)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.model} ({self.requests})"


class HourlyUsage(Rollup):
    """Logs of one UTC hour (`bucket` is the hour's start)."""

    class Meta:
        verbose_name = _("hourly usage")
        verbose_name_plural = _("hourly usage")
        indexes = [
            models.Index(fields=["bucket", "model"]),
            models.Index(fields=["user_id", "bucket"]),
            models.Index(fields=["api_key_id", "bucket"]),
            models.Index(fields=["account_id", "bucket"]),
        ]


class DailyUsage(Rollup):
    """Logs of one day in settings.TIME_ZONE (`bucket` is the day's start, an aware datetime)."""

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        indexes = [
            models.Index(fields=["bucket", "model"]),
            models.Index(fields=["user_id", "bucket"]),
            models.Index(fields=["api_key_id", "bucket"]),
            models.Index(fields=["account_id", "bucket"]),
        ]


class AggregationState(models.Model):
    """One row: rollups hold every log created before `watermark` (None: nothing aggregated yet)."""

    watermark = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("aggregation state")

    def __str__(self):
        return f"watermark {self.watermark}"
