"""User admin forms for the email-login user (no username field for login)."""

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from unfold.forms import UserChangeForm as UnfoldUserChangeForm
from unfold.forms import UserCreationForm as UnfoldUserCreationForm
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from billing import balance
from billing.balance import MAX_NOTE
from core.money import to_decimal


class UserCreationForm(UnfoldUserCreationForm):
    class Meta:
        model = get_user_model()
        fields = ("email", "role", "balance", "concurrency")

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("A user with this email already exists."))
        return email


class UserChangeForm(UnfoldUserChangeForm):
    balance_adjustment = forms.DecimalField(
        label=_("Adjust balance (USD)"), required=False, max_digits=20, decimal_places=9,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "0.01", "placeholder": "+10 / -5"}),
        help_text=_("Added to the balance in one atomic update, so a request charged meanwhile is not lost."),
    )
    balance_note = forms.CharField(
        label=_("Reason for the adjustment"), required=False, max_length=MAX_NOTE,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": _("e.g. invoice 2026-114, refund")}),
        help_text=_("Kept in the balance history with the amount, your name and the time."),
    )

    class Meta:
        model = get_user_model()
        fields = (  # not the balance: it changes only through balance_adjustment
            "email", "password", "username", "notes", "time_zone", "concurrency", "allowed_groups", "role", "status",
            "is_staff", "is_superuser", "groups", "user_permissions",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].widget = UnfoldAdminSelectWidget(choices=[
            ("", _("Server default (%(zone)s)") % {"zone": settings.TIME_ZONE}),
            *((name, name) for name in sorted(zoneinfo.available_timezones())),
        ])
        # Two kinds of "group" live on a user: say which is which where they are chosen.
        labels = {
            "allowed_groups": (_("Exclusive groups"), _(
                "The exclusive gateway groups (subrelay's groups of upstream accounts) this user may bind keys "
                "to; the others are open to everyone.")),
            "groups": (_("Django permission groups"), _(
                "Django admin permission groups: which admin pages a staff member may use. They have nothing "
                "to do with gateway groups.")),
        }
        for name, (label, help_text) in labels.items():
            if name in self.fields:
                self.fields[name].label, self.fields[name].help_text = label, help_text

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()

    def clean_balance_adjustment(self):
        value = self.cleaned_data.get("balance_adjustment")
        if value is None:
            return None
        try:
            amount = to_decimal(value)
            if self.instance.pk:
                balance.check_adjustment(self.instance.balance, amount)
        except ValueError as exc:
            raise forms.ValidationError(str(exc))
        except balance.BalanceError as exc:
            raise forms.ValidationError(exc.message)
        return amount
