"""Admin form for API keys: quota, an expiry toggle with +7/+30/+90-day quick buttons and a picker.

The form only collects values; the admin hands them to apikeys.services (create_key / update_key), the
one home of the S7 status rules.
"""

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminTextareaWidget, UnfoldBooleanSwitchWidget

from accounts.forms import plain_amount
from apikeys.models import ApiKey
from apikeys.services import KeyRuleError, clean_ip_list, clean_quota
from groups.models import Group

EXPIRY_FORMAT = "%Y-%m-%dT%H:%M"


class ExpiryWidget(forms.DateTimeInput):
    """A datetime-local picker (UTC) with quick-select buttons; see apikeys/static/subrelay/key_expiry.js."""

    template_name = "apikeys/expiry_widget.html"
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        base = {"class": "sr-expiry-input border border-base-200 rounded-default px-3 py-2 bg-white "
                         "dark:bg-base-900 dark:border-base-700"}
        super().__init__(attrs={**base, **(attrs or {})}, format=EXPIRY_FORMAT)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["quick_days"] = (7, 30, 90)
        return context

    class Media:
        js = ("subrelay/key_expiry.js",)


class IpListField(forms.CharField):
    """One IP or CIDR per line (or comma-separated) ⇄ list."""

    widget = UnfoldAdminTextareaWidget(attrs={"rows": 2})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        items = [part for line in (value or "").splitlines() for part in line.split(",")]
        try:
            return clean_ip_list(items, str(self.label))
        except KeyRuleError as exc:
            raise forms.ValidationError(exc.message)


class LimitField(forms.DecimalField):
    """A USD limit (0 = off), read by the same rule as the REST API's (apikeys.services.clean_quota)."""

    def __init__(self, name: str):
        self.name = name  # the field the error names, as the API's does
        column = ApiKey._meta.get_field(name)
        super().__init__(required=False, min_value=0, max_digits=20, decimal_places=9, label=column.verbose_name,
                         help_text=column.help_text,
                         widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "0.01", "placeholder": "0"}))

    def clean(self, value):
        value = super().clean(value)
        try:
            return clean_quota(value if value is not None else 0, self.name)
        except KeyRuleError as exc:
            raise forms.ValidationError(exc.message)


class ApiKeyForm(forms.ModelForm):
    expires_enabled = forms.BooleanField(label=_("Expiration"), required=False, widget=UnfoldBooleanSwitchWidget)
    expires_at = forms.DateTimeField(
        label=_("Expires at (UTC)"), required=False, widget=ExpiryWidget, input_formats=[EXPIRY_FORMAT, "%Y-%m-%d"],
        help_text=_("Quick select sets now + N days."),
    )
    quota = forms.DecimalField(
        label=_("Quota limit (USD)"), required=False, min_value=0, max_digits=20, decimal_places=9,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "0.01", "placeholder": "0"}),
        help_text=_("0 = unlimited"),
    )
    rate_limit_5h = LimitField("rate_limit_5h")
    rate_limit_1d = LimitField("rate_limit_1d")
    rate_limit_7d = LimitField("rate_limit_7d")
    reset_rate_limit_usage = forms.BooleanField(
        label=_("Reset window usage"), required=False, widget=UnfoldBooleanSwitchWidget,
        help_text=_("On save, the 5h, 1d and 7d windows start again from 0."),
    )
    ip_whitelist = IpListField(label=_("IP allow list"), required=False, help_text=_("One IP or CIDR per line"))
    ip_blacklist = IpListField(label=_("IP deny list"), required=False, help_text=_("One IP or CIDR per line"))

    class Meta:
        model = ApiKey
        fields = ("user", "name", "group", "status", "quota", "expires_at", "ip_whitelist", "ip_blacklist",
                  "rate_limit_5h", "rate_limit_1d", "rate_limit_7d", "concurrency", "rpm_limit")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "group" in self.fields:
            self.fields["group"].queryset = Group.objects.order_by("sort_order", "id")
        if "status" in self.fields:
            # People choose active or inactive; quota_exhausted/expired are the server's and stay listed
            # only so that saving an exhausted key without touching the status keeps it.
            current = self.instance.status if self.instance.pk else ApiKey.Status.ACTIVE
            self.fields["status"].choices = [
                (value, label) for value, label in ApiKey.Status.choices
                if value in (ApiKey.Status.ACTIVE, ApiKey.Status.INACTIVE) or value == current
            ]
        self.initial["quota"] = plain_amount(self.instance.quota) if self.instance.pk else "0"
        for name in ("rate_limit_5h", "rate_limit_1d", "rate_limit_7d"):
            self.initial[name] = plain_amount(getattr(self.instance, name)) if self.instance.pk else "0"
        for name in ("concurrency", "rpm_limit"):
            if name in self.fields:
                self.fields[name].required = False  # empty = 0 = off
        self.initial["expires_enabled"] = bool(self.instance.expires_at)

    def clean_quota(self):
        value = self.cleaned_data.get("quota")
        try:
            return clean_quota(value if value is not None else 0)
        except KeyRuleError as exc:
            raise forms.ValidationError(exc.message)

    def clean_concurrency(self):
        return self.cleaned_data.get("concurrency") or 0

    def clean_rpm_limit(self):
        return self.cleaned_data.get("rpm_limit") or 0

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("expires_enabled"):
            cleaned["expires_at"] = None
        elif cleaned.get("expires_at") is None and "expires_at" not in self.errors:
            self.add_error("expires_at", _("Pick a date or turn expiration off."))
        return cleaned
