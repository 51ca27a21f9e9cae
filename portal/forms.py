"""The portal's forms. They only collect what a person types: signing in goes through users.login's
throttle and Django's authenticate; a new key goes through the REST API's body (KeyCreateBody) and
apikeys.services.create_key, so the portal accepts exactly what POST /api/v1/keys accepts."""

from django import forms
from django.contrib.auth import authenticate
from django.utils.translation import pgettext_lazy
from rest_framework.exceptions import APIException
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminEmailInputWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apikeys import services
from apikeys.serializers import KeyCreateBody
from core.clientip import request_ip
from core.rules import RuleError
from users.login import attempt_wait, too_many_attempts


class LoginForm(forms.Form):
    email = forms.EmailField(
        label=pgettext_lazy("portal", "Email"), widget=UnfoldAdminEmailInputWidget(attrs={"autofocus": True})
    )
    password = forms.CharField(
        label=pgettext_lazy("portal", "Password"), strip=False, widget=UnfoldAdminPasswordWidget
    )

    def __init__(self, request, *args, **kwargs):
        self.request, self.user = request, None
        super().__init__(*args, **kwargs)

    def clean(self):
        email, password = self.cleaned_data.get("email"), self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data
        wait = attempt_wait(request_ip(self.request), email)
        if wait is not None:
            raise forms.ValidationError(too_many_attempts(wait), code="throttled")
        self.user = authenticate(self.request, username=email, password=password)
        if self.user is None:
            raise forms.ValidationError(pgettext_lazy("portal", "Wrong email or password."), code="invalid_login")
        return self.cleaned_data


def _lines(text: str) -> list[str]:
    return [part.strip() for line in (text or "").splitlines() for part in line.split(",") if part.strip()]


class KeyCreateForm(forms.Form):
    """A new key of the signed-in user. `clean` hands the values to the REST API's body serializer; its
    messages (which name the field) become this form's field errors."""

    # The REST body's field names → this form's fields, for placing the serializer's errors.
    BODY_FIELDS = {"group_id": "group"}
    WINDOWS = ("rate_limit_5h", "rate_limit_1d", "rate_limit_7d")

    name = forms.CharField(
        label=pgettext_lazy("portal", "Name"), required=False, max_length=100, widget=UnfoldAdminTextInputWidget
    )
    group = forms.ChoiceField(
        label=pgettext_lazy("portal", "Group"), widget=UnfoldAdminSelectWidget,
        help_text=pgettext_lazy("portal", "Which upstreams the key reaches and at what rate."),
    )
    quota = forms.CharField(
        label=pgettext_lazy("portal", "Quota (USD)"), required=False,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"placeholder": "0"}),
        help_text=pgettext_lazy("portal", "Most this key may spend in total; 0 = unlimited."),
    )
    expires_in_days = forms.CharField(
        label=pgettext_lazy("portal", "Expires in (days)"), required=False, widget=UnfoldAdminIntegerFieldWidget,
        help_text=pgettext_lazy("portal", "Empty = never expires."),
    )
    rate_limit_5h = forms.CharField(
        label=pgettext_lazy("portal", "5-hour spend limit (USD)"), required=False,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"placeholder": "0"}),
        help_text=pgettext_lazy("portal", "Most this key may spend in 5 hours from its first request; 0 = no limit."),
    )
    rate_limit_1d = forms.CharField(
        label=pgettext_lazy("portal", "Daily spend limit (USD)"), required=False,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"placeholder": "0"}),
        help_text=pgettext_lazy("portal", "Most this key may spend in a day; 0 = no limit."),
    )
    rate_limit_7d = forms.CharField(
        label=pgettext_lazy("portal", "7-day spend limit (USD)"), required=False,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"placeholder": "0"}),
        help_text=pgettext_lazy("portal", "Most this key may spend in 7 days; 0 = no limit."),
    )
    ip_whitelist = forms.CharField(
        label=pgettext_lazy("portal", "IP allow list"), required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=pgettext_lazy("portal", "One IP or CIDR per line; empty = any address."),
    )
    ip_blacklist = forms.CharField(
        label=pgettext_lazy("portal", "IP deny list"), required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=pgettext_lazy("portal", "One IP or CIDR per line; these are refused."),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)
        self.groups = list(services.bindable_groups(user))
        self.fields["group"].choices = [(str(g.pk), f"{g.name} ({g.get_platform_display()})") for g in self.groups]

    def body(self) -> dict:
        """The form's values as the JSON body POST /api/v1/keys takes."""
        data = self.cleaned_data
        body = {"name": data.get("name", ""), "group_id": int(data["group"]),
                "ip_whitelist": _lines(data.get("ip_whitelist")), "ip_blacklist": _lines(data.get("ip_blacklist"))}
        for name in ("quota", *self.WINDOWS):
            if data.get(name, "").strip():
                body[name] = data[name].strip()
        days = data.get("expires_in_days", "").strip()
        if days:
            body["expires_in_days"] = int(days) if days.lstrip("-").isdigit() else days
        return body

    def _field_of(self, message: str) -> str | None:
        name = message.partition(":")[0].strip()
        name = self.BODY_FIELDS.get(name, name)
        return name if name in self.fields else None

    def clean(self):
        if self.errors:
            return self.cleaned_data
        serializer = KeyCreateBody(data=self.body())
        try:
            valid = serializer.is_valid()
        except RuleError as exc:
            self.add_error(self._field_of(exc.message), exc.message)
            return self.cleaned_data
        except APIException as exc:  # e.g. the group is gone
            self.add_error("group", str(exc.detail))
            return self.cleaned_data
        if not valid:
            for name, messages in serializer.errors.items():
                field = self.BODY_FIELDS.get(name, name)
                for message in messages if isinstance(messages, list) else [messages]:
                    self.add_error(field if field in self.fields else None, str(message))
            return self.cleaned_data
        self.changes = serializer.changes()
        return self.cleaned_data

    def save(self):
        """Create the key; returns (key, secret), or None when the service refuses (then a form error)."""
        try:
            return services.create_key(self.user, **self.changes)
        except RuleError as exc:
            self.add_error("group" if "group" in exc.message else None, exc.message)
            return None

