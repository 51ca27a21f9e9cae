"""Key limits over REST (/api/v1/keys and /api/v1/admin/api-keys): spend windows, concurrency and RPM are
set, shown with their usage and resets, reset on request, and refused with a 400 naming the field."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apikeys import windows
from apikeys.models import ApiKey
from tests.api.conftest import data

pytestmark = pytest.mark.django_db

LIMITS = {"rate_limit_5h": 1.5, "rate_limit_1d": 3, "rate_limit_7d": 10, "concurrency": 2, "rpm_limit": 30}


def test_limits_are_set_on_create_and_shown(user_api):
    body = data(user_api.post("/api/v1/keys", {"name": "limited", **LIMITS}))
    for field, value in LIMITS.items():
        assert body[field] == value
    assert (body["usage_5h"], body["window_5h_start"], body["window_5h_resets_at"]) == (0, None, None)
    key = ApiKey.objects.get(pk=body["id"])
    assert (key.rate_limit_5h, key.concurrency, key.rpm_limit) == (Decimal("1.5"), 2, 30)


def test_usage_and_resets_show_and_reset_rate_limit_usage_zeroes_them(user_api, user, admin_api):
    key = data(user_api.post("/api/v1/keys", {"rate_limit_5h": 1, "rate_limit_1d": 2}))
    start = timezone.now() - timedelta(hours=1)
    day = windows.start_for("1d", timezone.now())
    ApiKey.objects.filter(pk=key["id"]).update(usage_5h=Decimal("0.4"), window_5h_start=start,
                                               usage_1d=Decimal("0.5"), window_1d_start=day,
                                               usage_7d=Decimal("9"), window_7d_start=start)
    shown = data(user_api.get(f"/api/v1/keys/{key['id']}"))
    assert shown["usage_5h"] == 0.4 and shown["usage_1d"] == 0.5
    assert datetime.fromisoformat(shown["window_5h_resets_at"]) == start + timedelta(hours=5)
    assert datetime.fromisoformat(shown["window_1d_resets_at"]) == day + timedelta(days=1)
    old = timezone.now() - timedelta(hours=6)
    ApiKey.objects.filter(pk=key["id"]).update(window_5h_start=old)
    shown = data(admin_api.get(f"/api/v1/admin/api-keys/{key['id']}"))
    assert (shown["usage_5h"], shown["window_5h_start"]) == (0, None)  # elapsed: counts as 0
    reset = data(user_api.put(f"/api/v1/keys/{key['id']}", {"reset_rate_limit_usage": True, "rpm_limit": 5}))
    assert (reset["usage_1d"], reset["window_1d_start"], reset["rpm_limit"]) == (0, None, 5)
    stored = ApiKey.objects.get(pk=key["id"])
    assert (stored.usage_1d, stored.usage_7d, stored.window_7d_start) == (0, 0, None)


def test_admins_set_limits_on_any_key(admin_api, user):
    key, _ = ApiKey.objects.create_key(user=user)
    body = data(admin_api.put(f"/api/v1/admin/api-keys/{key.pk}", {"rate_limit_7d": 7, "concurrency": 1}))
    assert (body["rate_limit_7d"], body["concurrency"]) == (7, 1)


@pytest.mark.parametrize(("raw", "field"), [
    ('{"rate_limit_5h": -1}', "rate_limit_5h"), ('{"rate_limit_1d": "NaN"}', "rate_limit_1d"),
    ('{"rate_limit_7d": 1e400}', "rate_limit_7d"), ('{"rate_limit_5h": 2000000000}', "rate_limit_5h"),
    ('{"concurrency": -1}', "concurrency"), ('{"concurrency": 100000}', "concurrency"),
    ('{"rpm_limit": "many"}', "rpm_limit"), ('{"rpm_limit": 1.5}', "rpm_limit"),
    ('{"reset_rate_limit_usage": "yes"}', "reset_rate_limit_usage"),
])
def test_bad_limits_are_400_naming_the_field(user_api, user, raw, field):
    key, _ = ApiKey.objects.create_key(user=user)
    for method, path in (("post", "/api/v1/keys"), ("put", f"/api/v1/keys/{key.pk}")):
        if field == "reset_rate_limit_usage" and method == "post":
            continue
        status, answer = user_api.call(method, path, raw=raw)
        assert status == 400 and field in answer["message"], answer
