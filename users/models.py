
import zoneinfo

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.columns import within_columns
from core.money import MoneyField


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone “%(name)s”: use an IANA name such as Asia/Shanghai."),
                              params={"name": value}, code="time_zone")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(role=User.Role.ADMIN, is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


@within_columns
class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")
        USER = "user", _("User")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISABLED = "disabled", _("Disabled")

    email = models.EmailField(_("email"), unique=True)
    username = models.CharField(_("username"), max_length=100, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, validators=[validate_time_zone],
        help_text=_("The admin shows dates in this zone for this user; empty = the server's TIME_ZONE."),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.USER)
    balance = MoneyField(_("balance (USD)"), default=0)
    concurrency = models.IntegerField(
        _("concurrency"), default=5, help_text=_("0 = unlimited"), validators=[MinValueValidator(0)]
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    is_staff = models.BooleanField(_("staff"), default=False)
    allowed_groups = models.ManyToManyField(
        "groups.Group", blank=True, related_name="allowed_users", verbose_name=_("allowed exclusive groups")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["id"]

    def __str__(self):
        return self.email

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE

    @property
    def is_admin(self):
        return self.role == self.Role.ADMIN


@within_columns
class UserGroupRate(models.Model):
    """A per-user override of a group's rate multiplier."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="group_rates")
    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="user_rates")
    rate_multiplier = models.DecimalField(
        _("rate multiplier"), max_digits=10, decimal_places=4, validators=[MinValueValidator(0)]
    )

    class Meta:
        verbose_name = _("user group rate")
        verbose_name_plural = _("user group rates")
        constraints = [models.UniqueConstraint(fields=["user", "group"], name="uniq_user_group_rate")]

    def __str__(self):
        return f"{self.user} × {self.group}: {self.rate_multiplier}"


@within_columns
class Subscription(models.Model):
    """A user's subscription to a subscription-type group, with rolling usage windows."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        SUSPENDED = "suspended", _("Suspended")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="subscriptions")
    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="subscriptions")
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    daily_window_start = models.DateTimeField(null=True, blank=True)
    weekly_window_start = models.DateTimeField(null=True, blank=True)
    monthly_window_start = models.DateTimeField(null=True, blank=True)
    daily_usage = MoneyField(_("daily usage (USD)"), default=0)
    weekly_usage = MoneyField(_("weekly usage (USD)"), default=0)
    monthly_usage = MoneyField(_("monthly usage (USD)"), default=0)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [models.UniqueConstraint(fields=["user", "group"], name="uniq_user_subscription")]

    def __str__(self):
        return f"{self.user} → {self.group}"

    def is_valid(self, now=None) -> bool:
        return self.status == self.Status.ACTIVE and self.expires_at > (now or timezone.now())
