"""Admin forms for upstream accounts and proxies.

Secrets are write-only: the inputs never render the stored value, and an empty input on edit keeps it.
Quota settings are validated by accounts.quota.validate_config, so a bad hour or time zone becomes a
field error instead of a 500.
"""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
    UnfoldBooleanSwitchWidget,
)

from accounts import quota
from accounts.models import Account, Proxy
from accounts.services import platform_type_error
from core.pattern_fields import ModelListField, ModelMappingField
from groups.models import Group

KEEP_HINT = _("Leave empty to keep the stored value.")
WEEKDAYS = [
    (0, _("Sunday")), (1, _("Monday")), (2, _("Tuesday")), (3, _("Wednesday")),
    (4, _("Thursday")), (5, _("Friday")), (6, _("Saturday")),
]
HOURS = [(h, f"{h:02d}:00") for h in range(24)]
# Regions that serve Anthropic models on Bedrock; the cross-region prefix (us., eu., apac., ...) follows.
BEDROCK_REGIONS = [
    ("us-east-1", "us-east-1 (N. Virginia)"), ("us-east-2", "us-east-2 (Ohio)"), ("us-west-2", "us-west-2 (Oregon)"),
    ("us-gov-west-1", "us-gov-west-1 (GovCloud)"), ("ca-central-1", "ca-central-1 (Canada)"),
    ("eu-central-1", "eu-central-1 (Frankfurt)"), ("eu-west-1", "eu-west-1 (Ireland)"),
    ("eu-west-3", "eu-west-3 (Paris)"), ("eu-north-1", "eu-north-1 (Stockholm)"),
    ("ap-northeast-1", "ap-northeast-1 (Tokyo)"), ("ap-northeast-2", "ap-northeast-2 (Seoul)"),
    ("ap-south-1", "ap-south-1 (Mumbai)"), ("ap-southeast-1", "ap-southeast-1 (Singapore)"),
    ("ap-southeast-2", "ap-southeast-2 (Sydney)"),
]


def plain_amount(value: Decimal | None) -> str:
    """'12.5' rather than '12.500000000' for an input's initial value."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("0", "-0") else text


class SecretFieldsMixin:
    """Turns `secret_fields` into write-only password inputs; empty on edit = keep."""

    secret_fields: tuple[str, ...] = ()

    def setup_secrets(self):
        editing = self.instance.pk is not None
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            field = self.fields[name]
            stored = bool(getattr(self.instance, name, ""))
            placeholder = _("•••••• stored — leave empty to keep") if editing and stored else ""
            field.widget = UnfoldAdminPasswordWidget(attrs={"autocomplete": "new-password", "placeholder": placeholder})
            field.required = False
            field.strip = True
            if editing:
                field.help_text = KEEP_HINT
            self.initial[name] = ""  # never let the stored value reach a template

    def keep_empty_secrets(self, cleaned):
        if self.instance.pk is None:
            return cleaned
        for name in self.secret_fields:
            if name in cleaned and not cleaned[name]:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


class ProxyForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = ("password",)

    class Meta:
        model = Proxy
        fields = ("name", "protocol", "host", "port", "username", "password", "is_active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_secrets()

    def clean(self):
        return self.keep_empty_secrets(super().clean())


class AccountForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = ("api_key", "access_token", "refresh_token", "aws_secret_access_key", "aws_session_token")
    LIMIT_FIELDS = ("quota_daily_limit", "quota_weekly_limit", "quota_limit")
    # OAuth / setup-token limits (accounts/limits.py): hidden for other types, so empty means the default.
    ACCOUNT_LIMIT_FIELDS = (
        "base_rpm", "rpm_strategy", "rpm_sticky_buffer", "max_sessions", "session_idle_timeout_minutes",
        "window_cost_limit", "window_cost_sticky_reserve",
    )

    quota_enabled = forms.BooleanField(
        label=_("Enable quota limit"), required=False, widget=UnfoldBooleanSwitchWidget,
        help_text=_("API key and Bedrock accounts only. Turning it off clears the three limits."),
    )
    model_mapping = ModelMappingField(
        label=_("Model mapping"),
        help_text=_("One row per requested model; a name ending with * maps every model it prefixes. With rows, "
                    "only the models listed here are served."),
    )
    allowed_models = ModelListField(
        label=_("Allowed models"), help_text=_("No rows = every model; a name ending with * allows a prefix."),
    )
    groups = forms.ModelMultipleChoiceField(
        label=_("Groups"), queryset=Group.objects.order_by("sort_order", "id"), required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )

    class Meta:
        model = Account
        fields = [  # everything an admin sets; the runtime counters and states are never form fields
            f.name for f in Account._meta.concrete_fields
            if f.editable and not f.primary_key and f.name not in Account.RUNTIME_FIELDS
        ]
        widgets = {
            "bedrock_auth_mode": UnfoldAdminRadioSelectWidget,
            "quota_weekly_reset_day": UnfoldAdminSelectWidget(choices=WEEKDAYS),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_secrets()
        for name in self.LIMIT_FIELDS:
            self.fields[name] = forms.DecimalField(
                label=self.fields[name].label, required=False, min_value=0, max_digits=20, decimal_places=9,
                widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "0.01", "placeholder": _("0 means unlimited")}),
            )
            self.initial[name] = plain_amount(getattr(self.instance, name))
        self.fields["quota_daily_limit"].help_text = _("USD. Rolling mode: resets 24 hours after the first use.")
        self.fields["quota_weekly_limit"].help_text = _("USD. Rolling mode: resets 7 days after the first use.")
        self.fields["quota_limit"].help_text = _("USD. Never resets by itself — use “Reset quota”.")
        for name in ("quota_daily_reset_hour", "quota_weekly_reset_hour"):
            self.fields[name] = forms.TypedChoiceField(
                label=self.fields[name].label, choices=HOURS, coerce=int, widget=UnfoldAdminSelectWidget,
            )
        self.fields["quota_weekly_reset_day"] = forms.TypedChoiceField(
            label=self.fields["quota_weekly_reset_day"].label, choices=WEEKDAYS, coerce=int,
            widget=UnfoldAdminSelectWidget,
        )
        self.fields["quota_reset_timezone"].help_text = _("IANA name, e.g. UTC or Asia/Shanghai (fixed mode)")
        self.fields["cache_ttl_override"].help_text = _(
            "Only for OAuth / setup-token accounts: bill every cache write as this TTL. Ignored for other types."
        )
        self.fields["bedrock_auth_mode"].help_text = _("SigV4 needs access key ID and secret; API key mode one key.")
        self.fields["aws_region"] = forms.ChoiceField(
            label=self.fields["aws_region"].label, choices=self._region_choices(), required=False,
            widget=UnfoldAdminSelectWidget, initial="us-east-1",
            help_text=_("The region requests are signed for and sent to; it picks the cross-region inference "
                        "profile (us., eu., apac., …)."),
        )
        self.fields["aws_force_global"].help_text = _(
            "Use the global. inference profile whatever the region (models that offer one)."
        )
        self.initial["quota_enabled"] = quota.has_limits(self.instance) if self.instance.pk else False
        for name in self.ACCOUNT_LIMIT_FIELDS:
            self.fields[name].required = False
        if self.instance.pk:
            self.initial["groups"] = list(self.instance.groups.values_list("pk", flat=True))

    def _region_choices(self):
        stored = self.instance.aws_region
        known = [code for code, _label in BEDROCK_REGIONS]
        return BEDROCK_REGIONS + ([(stored, stored)] if stored and stored not in known else [])

    def clean(self):
        cleaned = self.keep_empty_secrets(super().clean())
        for name in self.LIMIT_FIELDS:
            if cleaned.get(name) is None and name not in self.errors:
                cleaned[name] = Decimal(0)
        for name in self.ACCOUNT_LIMIT_FIELDS:
            if cleaned.get(name) in (None, "") and name not in self.errors and name != "rpm_sticky_buffer":
                cleaned[name] = Account._meta.get_field(name).get_default()
        if not cleaned.get("quota_enabled"):
            for name in self.LIMIT_FIELDS:
                cleaned[name] = Decimal(0)
        if cleaned.get("type") == Account.Type.BEDROCK:
            self._require_bedrock_credentials(cleaned)
        if wrong_type := platform_type_error(cleaned.get("platform"), cleaned.get("type")):
            self.add_error("type", gettext(wrong_type))
        return cleaned

    def _require_bedrock_credentials(self, cleaned):
        if cleaned.get("bedrock_auth_mode") == Account.BedrockAuth.APIKEY:
            if not cleaned.get("api_key"):
                self.add_error("api_key", _("A Bedrock API key is required in API key mode."))
            return
        if not cleaned.get("aws_access_key_id"):
            self.add_error("aws_access_key_id", _("Required for SigV4 signing."))
        if not cleaned.get("aws_secret_access_key"):
            self.add_error("aws_secret_access_key", _("Required for SigV4 signing."))

    def _post_clean(self):
        super()._post_clean()
        for name, message in quota.validate_config(self.instance).items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, message)
            elif name not in self.fields:
                self.add_error(None, message)

    def save_groups(self, account):
        """Sync memberships with the chosen groups; new memberships go to the end of the group's order."""
        from django.db.models import Max

        from groups.models import GroupAccount

        chosen = {g.pk for g in self.cleaned_data.get("groups") or ()}
        GroupAccount.objects.filter(account=account).exclude(group_id__in=chosen).delete()
        present = set(GroupAccount.objects.filter(account=account).values_list("group_id", flat=True))
        for group_id in sorted(chosen - present):
            last = GroupAccount.objects.filter(group_id=group_id).aggregate(m=Max("sort_value"))["m"]
            GroupAccount.objects.create(group_id=group_id, account=account, sort_value=(last or 0) + 1)
