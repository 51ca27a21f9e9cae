import hashlib
import ipaddress
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.columns import within_columns
from core.fields import EncryptedTextField
from core.money import MoneyField


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_secret(prefix: str | None = None) -> str:
    return (settings.API_KEY_PREFIX if prefix is None else prefix) + secrets.token_hex(32)


class ApiKeyQuerySet(models.QuerySet):
    def create_key(self, *, user, name="", group=None, **fields) -> tuple["ApiKey", str]:
        """Create a key; returns it with its secret, which is never retrievable again."""
        raw = generate_secret()
        key = self.create(user=user, name=name, group=group, key_hash=hash_key(raw), prefix=raw[:10], **fields)
        return key, raw

    def by_secret(self, raw: str):
        return self.filter(key_hash=hash_key(raw))


MAX_QUOTA = Decimal(1_000_000_000)  # far below what the BIGINT nano-dollar column holds
MAX_KEY_CONCURRENCY = 10_000
MAX_KEY_RPM = 1_000_000


@within_columns
class ApiKey(models.Model):
    """A key subrelay hands out. Only its SHA-256 and a short visible prefix are stored."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        QUOTA_EXHAUSTED = "quota_exhausted", _("Quota exhausted")
        EXPIRED = "expired", _("Expired")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("key prefix"), max_length=16, editable=False)
    group = models.ForeignKey(
        "groups.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="api_keys",
        verbose_name=_("group"),
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    ip_whitelist = models.JSONField(_("IP allow list"), default=list, blank=True)
    ip_blacklist = models.JSONField(_("IP deny list"), default=list, blank=True)
    quota = MoneyField(
        _("quota (USD)"), default=0, help_text=_("0 = unlimited"),
        validators=[MinValueValidator(0), MaxValueValidator(MAX_QUOTA)],
    )
    quota_used = MoneyField(_("quota used (USD)"), default=0)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    rate_limit_5h = MoneyField(
        _("5h limit (USD)"), default=0, help_text=_("spend cap per 5 hours from the first charge; 0 = off"),
        validators=[MinValueValidator(0), MaxValueValidator(MAX_QUOTA)],
    )
    rate_limit_1d = MoneyField(
        _("1d limit (USD)"), default=0, help_text=_("spend cap per day (UTC, from the start of the day); 0 = off"),
        validators=[MinValueValidator(0), MaxValueValidator(MAX_QUOTA)],
    )
    rate_limit_7d = MoneyField(
        _("7d limit (USD)"), default=0, help_text=_("spend cap per 7 days (from the start of a day, UTC); 0 = off"),
        validators=[MinValueValidator(0), MaxValueValidator(MAX_QUOTA)],
    )
    concurrency = models.PositiveIntegerField(
        _("concurrency"), default=0, validators=[MaxValueValidator(MAX_KEY_CONCURRENCY)],
        help_text=_("parallel requests of this key; 0 = only the user's limit"),
    )
    rpm_limit = models.PositiveIntegerField(
        _("requests per minute"), default=0, validators=[MaxValueValidator(MAX_KEY_RPM)],
        help_text=_("requests of this key in any 60 seconds; 0 = unlimited"),
    )
    usage_5h = MoneyField(default=0)
    usage_1d = MoneyField(default=0)
    usage_7d = MoneyField(default=0)
    window_5h_start = models.DateTimeField(null=True, blank=True)
    window_1d_start = models.DateTimeField(null=True, blank=True)
    window_7d_start = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-id"]
        indexes = [models.Index(fields=["expires_at"]), models.Index(fields=["quota", "quota_used"])]

    def __str__(self):
        return f"{self.name or 'key'} ({self.prefix}…)"

    @property
    def masked(self) -> str:
        return f"{self.prefix}…"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and (now or timezone.now()) > self.expires_at

    @property
    def has_windows(self) -> bool:
        return self.rate_limit_5h > 0 or self.rate_limit_1d > 0 or self.rate_limit_7d > 0

    @property
    def has_quota(self) -> bool:
        return self.quota > 0

    def is_quota_exhausted(self) -> bool:
        return self.quota > 0 and self.quota_used >= self.quota

    @property
    def quota_remaining(self):
        """-1 when unlimited."""
        return -1 if not self.has_quota else max(self.quota - self.quota_used, 0)

    def ip_allowed(self, ip: str) -> bool:
        if not self.ip_whitelist and not self.ip_blacklist:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False

        def matches(rules):
            for rule in rules:
                try:
                    if addr in ipaddress.ip_network(rule, strict=False):
                        return True
                except ValueError:
                    continue
            return False

        if matches(self.ip_blacklist):
            return False
        return not self.ip_whitelist or matches(self.ip_whitelist)


class AdminApiKey(models.Model):
    """The one admin API key (`x-api-key` on /api/v1/admin/*). Kept encrypted so operators can print it."""

    secret = EncryptedTextField()
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("admin API key")
        verbose_name_plural = _("admin API keys")

    def __str__(self):
        return f"{self.secret[:10]}…"

    @classmethod
    def current(cls, create=True):
        key = cls.objects.order_by("-id").first()
        if key is None and create:
            key = cls.rotate()
        return key

    @classmethod
    def rotate(cls):
        raw = generate_secret("admin-")
        cls.objects.all().delete()
        return cls.objects.create(secret=raw, key_hash=hash_key(raw))

    @classmethod
    def matches(cls, raw: str) -> bool:
        return bool(raw) and cls.objects.filter(key_hash=hash_key(raw)).exists()
