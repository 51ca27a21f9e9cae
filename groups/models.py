from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from sortedm2m.fields import SortedManyToManyField

from core.columns import within_columns
from core.money import MoneyField


class Platform(models.TextChoices):
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI = "openai", "OpenAI"
    GEMINI = "gemini", "Gemini"


class GroupQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Group.Status.ACTIVE)

    def set_sort_orders(self, orders: dict[int, int]) -> int:
        """Write {group id: sort_order} in one UPDATE; the caller has checked the ids exist."""
        whens = [models.When(pk=pk, then=models.Value(order)) for pk, order in orders.items()]
        return self.filter(pk__in=orders).update(
            sort_order=models.Case(*whens, output_field=models.IntegerField())
        )


@within_columns
class Group(models.Model):
    """A routing and billing pool: API keys of a group are served by the group's accounts."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")

    class SubscriptionType(models.TextChoices):
        STANDARD = "standard", _("Standard (balance)")
        SUBSCRIPTION = "subscription", _("Subscription")

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices, default=Platform.ANTHROPIC)
    rate_multiplier = models.DecimalField(
        _("rate multiplier"), max_digits=10, decimal_places=4, default=1, validators=[MinValueValidator(0)]
    )
    is_exclusive = models.BooleanField(_("exclusive"), default=False)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    subscription_type = models.CharField(
        _("billing type"), max_length=20, choices=SubscriptionType.choices, default=SubscriptionType.STANDARD
    )
    daily_limit_usd = MoneyField(_("daily limit (USD)"), null=True, blank=True, validators=[MinValueValidator(0)])
    weekly_limit_usd = MoneyField(_("weekly limit (USD)"), null=True, blank=True, validators=[MinValueValidator(0)])
    monthly_limit_usd = MoneyField(
        _("monthly limit (USD)"), null=True, blank=True, validators=[MinValueValidator(0)]
    )
    default_validity_days = models.IntegerField(
        _("default validity (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(36_500)]
    )
    claude_code_only = models.BooleanField(
        _("Claude Code only"), default=False,
        help_text=_("Only Claude Code (claude-cli) may use the group; other clients go to the fallback group"),
    )
    fallback_group = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("fallback group"),
        help_text=_("Serves the clients a Claude-Code-only group refuses (its own fallback is followed); "
                    "empty = they are refused"),
    )
    model_routing_enabled = models.BooleanField(_("model routing enabled"), default=False)
    model_routing = models.JSONField(
        _("model routing"), default=dict, blank=True, help_text=_('{"pattern": [account id, ...]}')
    )
    sort_order = models.IntegerField(_("sort order"), default=0, db_index=True)
    accounts = SortedManyToManyField(
        "accounts.Account", through="GroupAccount", sort_value_field_name="sort_value",
        related_name="groups", blank=True, verbose_name=_("accounts"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = GroupQuerySet.as_manager()

    class Meta:
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        ordering = ["sort_order", "id"]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.fallback_group_id and (problem := self.fallback_problem(self.fallback_group, self.platform)):
            raise ValidationError({"fallback_group": problem})

    def fallback_problem(self, fallback: "Group", platform: str) -> str | None:
        """Why `fallback` cannot be this group's fallback (itself, another platform, a cycle), or None."""
        if self.pk and fallback.pk == self.pk:
            return _("A group cannot fall back to itself.")
        if fallback.platform != platform:
            return _("The fallback group must be of the same platform.")
        seen, current = {fallback.pk}, fallback.fallback_group_id
        while current is not None:
            if current == self.pk or current in seen:
                return _("The fallback groups would form a cycle.")
            seen.add(current)
            current = Group.objects.filter(pk=current).values_list("fallback_group_id", flat=True).first()
        return None

    @property
    def is_subscription(self) -> bool:
        return self.subscription_type == self.SubscriptionType.SUBSCRIPTION


@within_columns
class GroupAccount(models.Model):
    """Membership of an account in a group. sort_value is the admin's drag order (a tie-breaker)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="memberships")
    priority = models.IntegerField(_("priority"), default=50)
    sort_value = models.IntegerField(default=0, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    _sort_field_name = "sort_value"  # read by sortedm2m

    class Meta:
        verbose_name = _("group membership")
        verbose_name_plural = _("group memberships")
        ordering = ["sort_value", "id"]
        constraints = [models.UniqueConstraint(fields=["group", "account"], name="uniq_group_account")]

    def __str__(self):
        return f"{self.group} ∋ {self.account}"
