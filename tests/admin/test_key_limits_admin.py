"""Key limits in the admin: the form edits the spend windows, concurrency and RPM (field errors for bad
values), resets window usage, and the list and form show each window's use with a bar and its reset."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apikeys.admin import key_windows_cell
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db
D = Decimal


def _post(key, **overrides):
    data = {"name": key.name, "group": "", "status": key.status, "quota": str(key.quota), "expires_at": "",
            "ip_whitelist": "", "ip_blacklist": "", "rate_limit_5h": str(key.rate_limit_5h),
            "rate_limit_1d": str(key.rate_limit_1d), "rate_limit_7d": str(key.rate_limit_7d),
            "concurrency": str(key.concurrency), "rpm_limit": str(key.rpm_limit)}
    data.update(overrides)
    return data


def test_the_form_edits_every_limit(client_admin, make_key):
    key = make_key()
    url = reverse("admin:apikeys_apikey_change", args=[key.pk])
    page = client_admin.get(url)
    assert b'name="rate_limit_5h"' in page.content and b'name="rpm_limit"' in page.content
    response = client_admin.post(url, _post(key, rate_limit_5h="2.5", rate_limit_7d="20", concurrency="3",
                                            rpm_limit="60"))
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.rate_limit_5h, key.rate_limit_1d, key.rate_limit_7d) == (D("2.5"), 0, D(20))
    assert (key.concurrency, key.rpm_limit) == (3, 60)


def test_the_add_form_takes_limits(client_admin, admin_user):
    response = client_admin.post(reverse("admin:apikeys_apikey_add"), {
        "user": admin_user.pk, "name": "new", "group": "", "quota": "0", "rate_limit_1d": "4",
        "concurrency": "2", "rpm_limit": "", "ip_whitelist": "", "ip_blacklist": "",
    })
    assert response.status_code == 302
    key = ApiKey.objects.get(name="new")
    assert (key.rate_limit_1d, key.concurrency, key.rpm_limit) == (D(4), 2, 0)


@pytest.mark.parametrize(("field", "value"), [
    ("rate_limit_5h", "-1"), ("rate_limit_1d", "NaN"), ("rate_limit_7d", "2000000000"),
    ("concurrency", "-2"), ("concurrency", "100000"), ("rpm_limit", "1.5"),
])
def test_bad_limits_are_field_errors(client_admin, make_key, field, value):
    key = make_key()
    page = client_admin.post(reverse("admin:apikeys_apikey_change", args=[key.pk]), _post(key, **{field: value}))
    assert page.status_code == 200  # the form again, with the error beside the field
    assert field in page.context["adminform"].form.errors
    key.refresh_from_db()
    assert getattr(key, field) == 0


def test_reset_window_usage_from_the_form(client_admin, make_key):
    key = make_key(rate_limit_5h=D(1))
    ApiKey.objects.filter(pk=key.pk).update(usage_5h=D("0.5"), window_5h_start=timezone.now())
    key.refresh_from_db()
    url = reverse("admin:apikeys_apikey_change", args=[key.pk])
    assert b"$0.50 / $1.00" in client_admin.get(url).content
    assert client_admin.post(url, _post(key, reset_rate_limit_usage="on")).status_code == 302
    key.refresh_from_db()
    assert (key.usage_5h, key.window_5h_start) == (0, None)


def test_window_bars_show_use_and_reset_time(make_key):
    start = timezone.now() - timedelta(hours=1)
    key = make_key(rate_limit_5h=D(2), rate_limit_7d=D(10), concurrency=4, rpm_limit=30)
    key.usage_5h, key.window_5h_start = D("1.7"), start
    html = key_windows_cell(key)
    assert "$1.70 / $2.00" in html and 'data-level="warn"' in html
    assert re.search(r"width:85%", html)
    resets = timezone.localtime(start + timedelta(hours=5)).strftime("%m-%d %H:%M")
    assert f"resets {resets}" in html
    assert "$0.00 / $10.00" in html and "not started" in html  # the 7 d window has had no charge yet
    assert "4 parallel" in html and "30 / min" in html
    key.window_5h_start = timezone.now() - timedelta(hours=6)
    assert "$0.00 / $2.00" in key_windows_cell(key)  # elapsed: 0 used
    assert "no limit" in key_windows_cell(make_key())


def test_the_list_shows_the_windows(client_admin, make_key):
    key = make_key(rate_limit_1d=D(3))
    ApiKey.objects.filter(pk=key.pk).update(usage_1d=D(3), window_1d_start=timezone.now())
    page = client_admin.get(reverse("admin:apikeys_apikey_changelist"))
    assert b"$3.00 / $3.00" in page.content and b'data-level="over"' in page.content
