"""S7 management in the admin: status badges, quota bar, expiry column, reset and clear actions, and
form saves that follow apikeys.services' reactivation rules."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apikeys.admin import key_expires_cell, key_quota_cell, key_status_badge

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.mark.parametrize(("status", "css"), [("active", "ok"), ("quota_exhausted", "warn"), ("expired", "over"),
                                             ("inactive", "grey")])
def test_status_badge_colours(make_key, status, css):
    assert f"sr-badge sr-{css}" in key_status_badge(make_key(status=status))


@pytest.mark.parametrize(("used", "level"), [("3", "ok"), ("4", "warn"), ("5", "over"), ("6", "over")])
def test_quota_bar_levels(make_key, used, level):
    key = make_key(quota=D(5))
    key.quota_used = D(used)
    html = key_quota_cell(key)
    assert f'data-level="{level}"' in html and f"${D(used):.2f} / $5.00" in html
    assert re.search(r"width:(\d+)%", html).group(1) == str(min(100, int(D(used) * 20)))


def test_unlimited_and_expiry_cells(make_key):
    assert "Unlimited" in key_quota_cell(make_key())
    assert "Never" in key_expires_cell(make_key())
    assert "sr-past" in key_expires_cell(make_key(expires_at=timezone.now() - timedelta(minutes=1)))
    assert "sr-past" not in key_expires_cell(make_key(expires_at=timezone.now() + timedelta(days=1)))


def test_reset_quota_confirmation_shows_amount_then_reactivates(client_admin, make_key):
    key = make_key(quota=D(5), status="quota_exhausted")
    type(key).objects.filter(pk=key.pk).update(quota_used=D("5.2"))
    url = reverse("admin:apikeys_apikey_reset_quota_row", args=[key.pk])
    page = client_admin.get(url)
    assert page.status_code == 200 and b"$5.20 / $5.00" in page.content
    assert client_admin.post(url, {"confirm": "yes"}).status_code == 302
    key.refresh_from_db()
    assert key.quota_used == 0 and key.status == "active"


def test_bulk_reset_quota_confirmation(client_admin, make_key):
    key = make_key(quota=D(2))
    type(key).objects.filter(pk=key.pk).update(quota_used=D("1.5"))
    url = reverse("admin:apikeys_apikey_changelist")
    page = client_admin.post(url, {"action": "reset_quota_selected", "_selected_action": [key.pk]})
    assert b"$1.50 / $2.00" in page.content
    client_admin.post(url, {"action": "reset_quota_selected", "_selected_action": [key.pk], "confirm": "yes"})
    key.refresh_from_db()
    assert key.quota_used == 0


def test_clear_expiration_reactivates_expired_key(client_admin, make_key):
    key = make_key(expires_at=timezone.now() - timedelta(days=1), status="expired")
    url = reverse("admin:apikeys_apikey_clear_expiration_row", args=[key.pk])
    assert client_admin.get(url).status_code == 200
    assert client_admin.post(url, {"confirm": "yes"}).status_code == 302
    key.refresh_from_db()
    assert key.expires_at is None and key.status == "active"


def _key_post(key, **overrides):
    data = {"name": key.name, "group": "", "status": key.status, "quota": str(key.quota),
            "expires_at": "", "ip_whitelist": "", "ip_blacklist": ""}
    if key.expires_at:
        data["expires_enabled"] = "on"
        data["expires_at"] = timezone.localtime(key.expires_at).strftime("%Y-%m-%dT%H:%M")
    data.update(overrides)
    return data


def test_raising_quota_in_form_reactivates_exhausted_key(client_admin, make_key):
    key = make_key(quota=D(5), status="quota_exhausted", ip_whitelist=["1.2.3.4"])
    type(key).objects.filter(pk=key.pk).update(quota_used=D("5.2"))
    url = reverse("admin:apikeys_apikey_change", args=[key.pk])
    assert client_admin.post(url, _key_post(key, quota="5", ip_whitelist="1.2.3.4")).status_code == 302
    key.refresh_from_db()
    assert key.status == "quota_exhausted"  # not above what was used
    assert client_admin.post(url, _key_post(key, quota="10", ip_whitelist="1.2.3.4")).status_code == 302
    key.refresh_from_db()
    assert key.status == "active" and key.quota == D(10) and key.quota_used == D("5.2")
    assert key.ip_whitelist == ["1.2.3.4"]


def test_expiry_set_in_form_and_future_date_reactivates(client_admin, make_key):
    key = make_key(expires_at=timezone.now() - timedelta(days=1), status="expired")
    url = reverse("admin:apikeys_apikey_change", args=[key.pk])
    future = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    assert client_admin.post(url, _key_post(key, expires_enabled="on", expires_at=future)).status_code == 302
    key.refresh_from_db()
    assert key.status == "active" and key.expires_at > timezone.now() + timedelta(days=29)


def test_expiry_toggle_off_clears(client_admin, make_key):
    key = make_key(expires_at=timezone.now() + timedelta(days=3))
    data = _key_post(key)
    data.pop("expires_enabled")
    assert client_admin.post(reverse("admin:apikeys_apikey_change", args=[key.pk]), data).status_code == 302
    key.refresh_from_db()
    assert key.expires_at is None


def test_edit_invalidates_auth_cache(client_admin, make_key, monkeypatch, django_capture_on_commit_callbacks):
    from apikeys import cache

    seen = []
    monkeypatch.setattr(cache, "invalidate_key", seen.append)
    key = make_key(quota=D(1))
    with django_capture_on_commit_callbacks(execute=True):
        client_admin.post(reverse("admin:apikeys_apikey_change", args=[key.pk]), _key_post(key, quota="2"))
    assert key.key_hash in seen
