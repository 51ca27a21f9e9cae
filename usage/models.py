"""Pre-aggregated usage: hourly and daily rollups of billing.UsageLog, and the watermark they reach.

A rollup row sums the logs of one bucket for one combination of its table's dimensions. There are four
levels, each hourly and daily: every dimension (user × key × account × group × model × upstream model ×
stream × billing type), the route without user and key, user × key alone, and the bucket's total.
Rollups hold exactly the logs created before `AggregationState.watermark`; statistics add the raw logs
after it (the live tail), so a dashboard is always current without scanning the whole log table.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.money import MoneyField

# The columns a rollup can be grouped by (the same names as on billing.UsageLog): who asked, and how the
# request was served.
KEY_DIMENSIONS = ("user_id", "api_key_id")
ROUTE_DIMENSIONS = ("account_id", "group_id", "model", "upstream_model", "stream", "billing_type")
DIMENSIONS = (*KEY_DIMENSIONS, *ROUTE_DIMENSIONS)
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
    """A bucket's sums. Each concrete table names its `grain` ("hour": UTC hours, `bucket` the hour's
    start; "day": days in settings.TIME_ZONE, `bucket` the day's start, an aware datetime) and the
    `dimensions` it keeps; a table without user and key is far smaller than the full combination, and
    statistics read the smallest table that holds every column a question needs."""

    grain = ""
    dimensions: tuple[str, ...] = ()

    bucket = models.DateTimeField(_("bucket"))
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
        return f"{self.bucket:%Y-%m-%d %H:%M} ({self.requests})"


# Plain ids, not foreign keys: a rollup outlives the key, account or group it counts.
class KeyDimensions(models.Model):
    user_id = models.BigIntegerField(_("user"))
    api_key_id = models.BigIntegerField(_("API key"), null=True)

    class Meta:
        abstract = True


class RouteDimensions(models.Model):
    account_id = models.BigIntegerField(_("account"), null=True)
    group_id = models.BigIntegerField(_("group"), null=True)
    model = models.CharField(_("model"), max_length=100)
    upstream_model = models.CharField(_("upstream model"), max_length=100, null=True)
    stream = models.BooleanField(_("stream"), default=False)
    billing_type = models.SmallIntegerField(_("billing type"), default=0)

    class Meta:
        abstract = True


class HourlyUsage(Rollup, KeyDimensions, RouteDimensions):
    """Every dimension, per UTC hour: the rows user- or key-filtered questions about a model or an account read."""

    grain, dimensions = "hour", DIMENSIONS

    class Meta:
        verbose_name = _("hourly usage")
        verbose_name_plural = _("hourly usage")
        indexes = [
            models.Index(fields=["bucket", "model"]),
            models.Index(fields=["user_id", "bucket"]),
            models.Index(fields=["api_key_id", "bucket"]),
            models.Index(fields=["account_id", "bucket"]),
        ]


class DailyUsage(Rollup, KeyDimensions, RouteDimensions):
    """Every dimension, per day in settings.TIME_ZONE."""

    grain, dimensions = "day", DIMENSIONS

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        indexes = [
            models.Index(fields=["bucket", "model"]),
            models.Index(fields=["user_id", "bucket"]),
            models.Index(fields=["api_key_id", "bucket"]),
            models.Index(fields=["account_id", "bucket"]),
        ]


# The indexes the hourly and daily tables of a level share (functions: each table needs objects of its own).
def route_indexes() -> list[models.Index]:
    return [
        models.Index(fields=["bucket", "model"]),
        models.Index(fields=["account_id", "bucket"]),
        models.Index(fields=["group_id", "bucket"]),
    ]


def key_indexes() -> list[models.Index]:
    return [
        models.Index(fields=["bucket"]),
        models.Index(fields=["user_id", "bucket"]),
        models.Index(fields=["api_key_id", "bucket"]),
    ]


class HourlyRouteUsage(Rollup, RouteDimensions):
    """Per UTC hour without user and key: models, groups and accounts."""

    grain, dimensions = "hour", ROUTE_DIMENSIONS

    class Meta:
        verbose_name = _("hourly usage by route")
        verbose_name_plural = _("hourly usage by route")
        indexes = route_indexes()


class DailyRouteUsage(Rollup, RouteDimensions):
    """Per day in settings.TIME_ZONE without user and key."""

    grain, dimensions = "day", ROUTE_DIMENSIONS

    class Meta:
        verbose_name = _("daily usage by route")
        verbose_name_plural = _("daily usage by route")
        indexes = route_indexes()


class HourlyKeyUsage(Rollup, KeyDimensions):
    """Per UTC hour, user and key only: rankings and key trends."""

    grain, dimensions = "hour", KEY_DIMENSIONS

    class Meta:
        verbose_name = _("hourly usage by key")
        verbose_name_plural = _("hourly usage by key")
        indexes = key_indexes()


class DailyKeyUsage(Rollup, KeyDimensions):
    """Per day in settings.TIME_ZONE, user and key only."""

    grain, dimensions = "day", KEY_DIMENSIONS

    class Meta:
        verbose_name = _("daily usage by key")
        verbose_name_plural = _("daily usage by key")
        indexes = key_indexes()


class HourlyTotalUsage(Rollup):
    """One row per UTC hour: totals and unfiltered trends."""

    grain = "hour"

    class Meta:
        verbose_name = _("hourly usage total")
        verbose_name_plural = _("hourly usage totals")
        indexes = [models.Index(fields=["bucket"])]


class DailyTotalUsage(Rollup):
    """One row per day in settings.TIME_ZONE."""

    grain = "day"

    class Meta:
        verbose_name = _("daily usage total")
        verbose_name_plural = _("daily usage totals")
        indexes = [models.Index(fields=["bucket"])]


# Finest first: each table is built from the last one before it that holds its dimensions, and a
# question is answered from the last one that holds what it needs.
ROLLUPS = {
    "hour": (HourlyUsage, HourlyRouteUsage, HourlyKeyUsage, HourlyTotalUsage),
    "day": (DailyUsage, DailyRouteUsage, DailyKeyUsage, DailyTotalUsage),
}


class AggregationState(models.Model):
    """One row: rollups hold every log created before `watermark` (None: nothing aggregated yet)."""

    watermark = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("aggregation state")

    def __str__(self):
        return f"watermark {self.watermark}"
