"""Admin account API: the mapper rules of S1/S3/S4/S5, edits that keep usage, reset and state actions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Account
from tests.api.conftest import data

pytestmark = pytest.mark.django_db

SECRETS = ("sk-upstream-secret", "oat-secret-token", "ort-secret-refresh", "AWSSECRETKEY123", "AWSSESSION456")


def get_account(admin_api, account):
    return data(admin_api.get(f"/api/v1/admin/accounts/{account.pk}"))


# --- S1 acceptance checks 1-7 ----------------------------------------------------------------------------


def test_s1_1_expired_daily_period_shows_zero_and_db_keeps_value(admin_api, make_account):
    now = timezone.now()
    account = make_account(quota_daily_limit=10, quota_daily_used=11, quota_daily_start=now - timedelta(hours=25))
    body = get_account(admin_api, account)
    assert body["quota_daily_limit"] == 10
    assert body["quota_daily_used"] == 0
    account.refresh_from_db()
    assert account.quota_daily_used == Decimal(11)


def test_s1_2_current_daily_period_shows_stored_value_and_account_is_paused(admin_api, make_account):
    account = make_account(
        quota_daily_limit=10, quota_daily_used=11, quota_daily_start=timezone.now() - timedelta(hours=23)
    )
    assert get_account(admin_api, account)["quota_daily_used"] == 11
    assert not account.is_schedulable()


def test_s1_3_weekly(admin_api, make_account):
    now = timezone.now()
    week = {"quota_weekly_limit": 50, "quota_weekly_used": 60}
    lapsed = make_account(**week, quota_weekly_start=now - timedelta(days=7, seconds=1))
    current = make_account(**week, quota_weekly_start=now - timedelta(days=6))
    assert get_account(admin_api, lapsed)["quota_weekly_used"] == 0
    assert get_account(admin_api, current)["quota_weekly_used"] == 60
    assert get_account(admin_api, current)["quota_weekly_limit"] == 50


def test_s1_4_missing_start_means_expired(admin_api, make_account):
    account = make_account(quota_daily_limit=10, quota_daily_used=5, quota_daily_start=None)
    assert get_account(admin_api, account)["quota_daily_used"] == 0


def test_s1_5_fixed_daily_mode(admin_api, make_account):
    now = timezone.now()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    fixed = {"quota_daily_reset_mode": "fixed", "quota_daily_reset_hour": 0, "quota_reset_timezone": "UTC"}
    before_boundary = make_account(
        quota_daily_limit=10, quota_daily_used=7, quota_daily_start=midnight - timedelta(hours=1), **fixed
    )
    after_boundary = make_account(
        quota_daily_limit=10, quota_daily_used=7, quota_daily_start=midnight + timedelta(seconds=1), **fixed
    )
    assert get_account(admin_api, before_boundary)["quota_daily_used"] == 0
    body = get_account(admin_api, after_boundary)
    assert body["quota_daily_used"] == 7
    assert body["quota_daily_reset_mode"] == "fixed"
    assert body["quota_daily_reset_hour"] == 0
    assert body["quota_reset_timezone"] == "UTC"
    assert body["quota_daily_reset_at"] == (midnight + timedelta(days=1)).isoformat().replace("+00:00", "Z")


def test_s1_6_total_is_never_zeroed(admin_api, make_account):
    account = make_account(quota_limit=100, quota_used=120, quota_daily_start=None, quota_weekly_start=None)
    body = get_account(admin_api, account)
    assert (body["quota_limit"], body["quota_used"]) == (100, 120)
    assert "quota_daily_limit" not in body and "quota_daily_used" not in body


def test_s1_7_oauth_account_has_no_quota_keys(admin_api, make_account):
    account = make_account(
        type=Account.Type.OAUTH, access_token="oat-secret-token", quota_limit=100, quota_used=120,
        quota_daily_limit=10, quota_daily_used=11, quota_daily_start=timezone.now(),
        quota_daily_reset_mode="fixed",
    )
    body = get_account(admin_api, account)
    assert not [k for k in body if k.startswith("quota_")]


def test_rolling_mode_fields_are_not_shown(admin_api, make_account):
    account = make_account(quota_daily_limit=10)
    body = get_account(admin_api, account)
    assert "quota_daily_reset_mode" not in body and "quota_daily_reset_at" not in body
    assert "quota_reset_timezone" not in body


def test_bedrock_gets_quota_keys_like_apikey(admin_api, make_account):
    account = make_account(
        type=Account.Type.BEDROCK, bedrock_auth_mode="apikey", api_key="ABSK123", quota_limit=5, quota_used=5
    )
    body = get_account(admin_api, account)
    assert (body["quota_limit"], body["quota_used"]) == (5, 5)
    assert body["auth_mode"] == "apikey"


# --- secrets never leave ---------------------------------------------------------------------------------


def test_secrets_are_never_exposed(admin_api, make_account):
    accounts = [
        make_account(api_key=SECRETS[0]),
        make_account(type=Account.Type.OAUTH, api_key="", access_token=SECRETS[1], refresh_token=SECRETS[2]),
        make_account(
            type=Account.Type.BEDROCK, api_key="", aws_access_key_id="AKIAEXAMPLE",
            aws_secret_access_key=SECRETS[3], aws_session_token=SECRETS[4],
        ),
    ]
    listing = admin_api.get("/api/v1/admin/accounts")
    details = [admin_api.get(f"/api/v1/admin/accounts/{a.pk}") for a in accounts]
    text = repr([listing, details])
    for secret in SECRETS:
        assert secret not in text
    apikey, oauth, bedrock = (data(d) for d in details)
    assert apikey["has_api_key"] is True and "api_key" not in apikey
    assert oauth["has_access_token"] is True and oauth["has_refresh_token"] is True
    assert bedrock["has_aws_secret_access_key"] is True and bedrock["has_aws_session_token"] is True
    assert bedrock["aws_access_key_id"] == "AKIAEXAMPLE"


# --- create / update -------------------------------------------------------------------------------------


def test_create_with_flat_fields(admin_api, make_group):
    group_b, group_a = make_group("b", sort_order=5), make_group("a", sort_order=1)
    body = data(admin_api.post("/api/v1/admin/accounts", {
        "name": "upstream-1", "platform": "anthropic", "type": "apikey", "api_key": SECRETS[0],
        "base_url": "https://relay.example.com", "priority": 10, "concurrency": 4,
        "quota_limit": 100, "quota_daily_limit": 10, "group_ids": [group_b.pk, group_a.pk],
    }))
    assert body["quota_limit"] == 100 and body["quota_used"] == 0
    assert body["quota_daily_limit"] == 10 and body["quota_daily_used"] == 0
    assert body["group_ids"] == [group_a.pk, group_b.pk]  # group display order, not request order
    assert (body["priority"], body["concurrency"], body["has_api_key"]) == (10, 4, True)
    assert Account.objects.get(pk=body["id"]).api_key == SECRETS[0]


def test_create_with_sub2api_credentials_and_extra_objects(admin_api):
    body = data(admin_api.post("/api/v1/admin/accounts", {
        "name": "bedrock-1", "platform": "anthropic", "type": "bedrock",
        "credentials": {"auth_mode": "sigv4", "aws_access_key_id": "AKIA1", "aws_secret_access_key": SECRETS[3],
                        "aws_region": "eu-west-1", "aws_force_global": "true"},
        "extra": {"quota_weekly_limit": 50, "quota_weekly_reset_mode": "fixed", "quota_weekly_reset_day": 0,
                  "quota_weekly_reset_hour": 6, "quota_reset_timezone": "Europe/Berlin"},
    }))
    assert body["aws_region"] == "eu-west-1" and body["aws_force_global"] is True
    assert body["quota_weekly_limit"] == 50
    assert body["quota_weekly_reset_day"] == 0 and body["quota_reset_timezone"] == "Europe/Berlin"
    reset_at = datetime.fromisoformat(body["quota_weekly_reset_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (reset_at.weekday(), reset_at.hour, reset_at.minute) == (6, 6, 0)  # Sunday 06:00 Berlin
    assert reset_at > timezone.now()


@pytest.mark.parametrize("body, message", [
    ({"type": "bedrock-apikey"}, "type"),
    ({"type": "bedrock", "auth_mode": "apikey"}, "api_key"),
    ({"type": "bedrock", "aws_access_key_id": "AKIA1"}, "aws_secret_access_key"),
    ({"type": "bedrock", "aws_secret_access_key": "x"}, "aws_access_key_id"),
    ({"type": "bedrock", "auth_mode": "magic", "api_key": "k"}, "auth_mode"),
    ({"type": "apikey"}, "api_key"),
    ({"type": "oauth"}, "access_token"),
    ({"type": "apikey", "api_key": "k", "quota_daily_reset_hour": 24}, "quota_daily_reset_hour"),
    ({"type": "apikey", "api_key": "k", "quota_daily_reset_mode": "hourly"}, "quota_daily_reset_mode"),
    ({"type": "apikey", "api_key": "k", "quota_weekly_reset_day": 7}, "quota_weekly_reset_day"),
    ({"type": "apikey", "api_key": "k", "quota_reset_timezone": "Mars/Olympus"}, "quota_reset_timezone"),
    ({"type": "apikey", "api_key": "k", "quota_limit": -1}, "quota_limit"),
    ({"type": "apikey", "api_key": "k", "extra": {"quota_daily_limit": "lots"}}, "quota_daily_limit"),
    ({"type": "apikey", "api_key": "k", "group_ids": ["x"]}, "group ID"),
    ({"type": "apikey", "api_key": "k", "concurrency": "many"}, "concurrency"),
    ({"type": "apikey", "api_key": "k", "base_url": "ftp://x"}, "base_url"),
    # the admin's editors and the API refuse the same model patterns (core.patterns)
    ({"type": "apikey", "api_key": "k", "model_mapping": {"claude-*-x": "claude-sonnet-4-5"}}, "model_mapping"),
    ({"type": "apikey", "api_key": "k", "allowed_models": ["claude sonnet"]}, "allowed_models"),
])
def test_invalid_account_bodies_are_400_naming_the_field(admin_api, body, message):
    status, answer = admin_api.post("/api/v1/admin/accounts", {"name": "x", "platform": "anthropic", **body})
    assert status == 400, answer
    assert answer["code"] == 400 and message in answer["message"]
    assert not Account.objects.exists()


def test_s4_7_raising_a_limit_keeps_usage_and_makes_the_account_selectable(admin_api, make_account):
    account = make_account(quota_daily_limit=10, quota_daily_used=10, quota_daily_start=timezone.now())
    assert not account.is_schedulable()
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"extra": {"quota_daily_limit": 20}}))
    assert (body["quota_daily_limit"], body["quota_daily_used"]) == (20, 10)
    account.refresh_from_db()
    assert account.quota_daily_used == 10 and account.is_schedulable()


def test_s4_8_client_sent_used_values_are_ignored(admin_api, make_account):
    start = timezone.now() - timedelta(hours=1)
    account = make_account(
        quota_limit=100, quota_used=40, quota_daily_limit=10, quota_daily_used=6, quota_daily_start=start
    )
    data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {
        "quota_used": 0, "extra": {"quota_limit": 100, "quota_daily_limit": 10, "quota_daily_used": 0,
                                   "quota_daily_start": None, "quota_weekly_used": 3},
    }))
    account.refresh_from_db()
    assert (account.quota_used, account.quota_daily_used, account.quota_daily_start) == (40, 6, start)
    assert account.quota_weekly_used == 0


def test_empty_extra_clears_limits_and_absent_extra_keeps_them(admin_api, make_account):
    account = make_account(quota_limit=100, quota_daily_limit=10)
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"priority": 7}))
    assert body["quota_limit"] == 100 and body["priority"] == 7
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"extra": {}}))
    assert "quota_limit" not in body and "quota_daily_limit" not in body


def test_blank_secrets_on_update_keep_the_stored_ones(admin_api, make_account):
    account = make_account(api_key=SECRETS[0])
    data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"api_key": "", "name": "renamed"}))
    account.refresh_from_db()
    assert (account.api_key, account.name) == (SECRETS[0], "renamed")
    data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"credentials": {"api_key": "sk-new"}}))
    account.refresh_from_db()
    assert account.api_key == "sk-new"


def test_switching_to_fixed_mode_normalises_the_window(admin_api, make_account):
    """S1 follow-up: a rolling window from before the fixed boundary starts over at the boundary."""
    account = make_account(
        quota_daily_limit=10, quota_daily_used=8, quota_daily_start=timezone.now() - timedelta(hours=30)
    )
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {
        "quota_daily_reset_mode": "fixed", "quota_daily_reset_hour": 0, "quota_reset_timezone": "UTC",
    }))
    assert body["quota_daily_used"] == 0
    account.refresh_from_db()
    midnight = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert (account.quota_daily_used, account.quota_daily_start) == (0, midnight)


def _shanghai_hour(offset_hours: int) -> tuple[int, datetime]:
    """A reset hour `offset_hours` from the current Shanghai hour, and the start of the current hour."""
    local = timezone.now().astimezone(ZoneInfo("Asia/Shanghai")).replace(minute=0, second=0, microsecond=0)
    return (local + timedelta(hours=offset_hours)).hour, local


def test_s4_12_fixed_reset_at_is_the_next_boundary_in_the_zone(admin_api, make_account):
    """Hour 8 Shanghai saved at 07:xx → reset today; saved at 09:xx → tomorrow (here relative to now)."""
    account = make_account(quota_daily_limit=10)
    hour, local_now = _shanghai_hour(+1)  # the boundary is still ahead today
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"extra": {
        "quota_daily_limit": 10, "quota_daily_reset_mode": "fixed", "quota_daily_reset_hour": hour,
        "quota_reset_timezone": "Asia/Shanghai",
    }}))
    expected = (local_now + timedelta(hours=1)).astimezone(UTC)
    assert datetime.fromisoformat(body["quota_daily_reset_at"]) == expected

    hour, local_now = _shanghai_hour(-1)  # the boundary passed an hour ago → the next one is tomorrow
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"extra": {
        "quota_daily_limit": 10, "quota_daily_reset_mode": "fixed", "quota_daily_reset_hour": hour,
        "quota_reset_timezone": "Asia/Shanghai",
    }}))
    expected = (local_now - timedelta(hours=1) + timedelta(days=1)).astimezone(UTC)
    assert datetime.fromisoformat(body["quota_daily_reset_at"]) == expected


def test_s4_12_hour_24_is_rejected_with_400(admin_api, make_account):
    account = make_account(quota_daily_limit=10)
    status, body = admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"extra": {
        "quota_daily_limit": 10, "quota_daily_reset_mode": "fixed", "quota_daily_reset_hour": 24,
    }})
    assert status == 400 and "quota_daily_reset_hour must be between 0 and 23" in body["message"]
    account.refresh_from_db()
    assert account.quota_daily_reset_mode == "rolling"


# --- actions -------------------------------------------------------------------------------------------------


def test_s4_9_reset_quota(admin_api, make_account):
    now = timezone.now()
    account = make_account(
        quota_limit=5, quota_used=5, quota_daily_limit=10, quota_daily_used=4, quota_daily_start=now,
        quota_weekly_limit=20, quota_weekly_used=9, quota_weekly_start=now,
    )
    assert not account.is_schedulable()
    body = data(admin_api.post(f"/api/v1/admin/accounts/{account.pk}/reset-quota"))
    assert body["id"] == account.pk
    assert (body["quota_used"], body["quota_daily_used"], body["quota_weekly_used"]) == (0, 0, 0)
    assert (body["quota_limit"], body["quota_daily_limit"], body["quota_weekly_limit"]) == (5, 10, 20)
    account.refresh_from_db()
    assert account.quota_daily_start is None and account.quota_weekly_start is None
    assert account.is_schedulable()


def test_reset_quota_with_a_non_numeric_id_is_400(admin_api):
    status, body = admin_api.post("/api/v1/admin/accounts/abc/reset-quota")
    assert (status, body["code"], body["message"]) == (400, 400, "Invalid account ID")


def test_unknown_account_is_404(admin_api):
    status, body = admin_api.get("/api/v1/admin/accounts/987654")
    assert (status, body["code"]) == (404, 404)


def test_clear_error_and_clear_rate_limit(admin_api, make_account):
    later = timezone.now() + timedelta(minutes=30)
    account = make_account(
        status=Account.Status.ERROR, error_message="401 from upstream",
        rate_limit_reset_at=later, overload_until=later, temp_unschedulable_until=later,
        temp_unschedulable_reason="keyword",
    )
    body = get_account(admin_api, account)
    assert body["status"] == "error" and body["error_message"] == "401 from upstream"
    assert body["temp_unschedulable_reason"] == "keyword" and body["rate_limit_reset_at"]
    body = data(admin_api.post(f"/api/v1/admin/accounts/{account.pk}/clear-rate-limit"))
    assert body["rate_limit_reset_at"] is None and body["overload_until"] is None
    assert body["temp_unschedulable_until"] is None and body["status"] == "error"
    body = data(admin_api.post(f"/api/v1/admin/accounts/{account.pk}/clear-error"))
    assert body["status"] == "active" and body["error_message"] == ""
    account.refresh_from_db()
    assert account.is_schedulable()


def test_delete_account(admin_api, make_account):
    account = make_account()
    data(admin_api.delete(f"/api/v1/admin/accounts/{account.pk}"))
    assert not Account.objects.filter(pk=account.pk).exists()


# --- S5 cache TTL override in the JSON ---------------------------------------------------------------------


def test_cache_ttl_override_fields(admin_api, make_account):
    oauth = make_account(type=Account.Type.OAUTH, access_token="t", cache_ttl_override="1h")
    apikey = make_account(cache_ttl_override="1h")
    plain = make_account(type=Account.Type.OAUTH, access_token="t")
    body = get_account(admin_api, oauth)
    assert (body["cache_ttl_override_enabled"], body["cache_ttl_override_target"]) == (True, "1h")
    assert "cache_ttl_override_enabled" not in get_account(admin_api, apikey)
    assert "cache_ttl_override_enabled" not in get_account(admin_api, plain)


def test_cache_ttl_override_from_extra_unknown_target_is_5m(admin_api, make_account):
    account = make_account(type=Account.Type.SETUP_TOKEN, access_token="t")
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {
        "extra": {"cache_ttl_override_enabled": True, "cache_ttl_override_target": "2h"},
    }))
    assert body["cache_ttl_override_target"] == "5m"
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"extra": {}}))
    assert "cache_ttl_override_enabled" not in body


def test_list_is_paginated_and_ordered_by_priority(admin_api, make_account):
    low, high = make_account(priority=90), make_account(priority=10)
    body = data(admin_api.get("/api/v1/admin/accounts?page_size=1"))
    assert (body["total"], body["pages"], body["page"], body["page_size"]) == (2, 2, 1, 1)
    assert [a["id"] for a in body["items"]] == [high.pk]
    assert [a["id"] for a in data(admin_api.get("/api/v1/admin/accounts?page=2&page_size=1"))["items"]] == [low.pk]


def test_null_clears_optional_links_and_leaves_other_fields(admin_api, make_account):
    from accounts.models import Proxy

    proxy = Proxy.objects.create(name="p", host="127.0.0.1", port=3128, password="proxy-secret")
    account = make_account(load_factor=5, priority=3)
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"proxy_id": proxy.pk}))
    assert body["proxy_id"] == proxy.pk and "proxy-secret" not in repr(body)
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {
        "proxy_id": None, "load_factor": None, "priority": None, "expires_at": 4102444800,
    }))
    assert (body["proxy_id"], body["load_factor"], body["priority"]) == (None, None, 3)
    assert body["expires_at"] == "2100-01-01T00:00:00Z"
    assert admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"proxy_id": 999999})[0] == 404
    assert admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"expires_at": 10**20})[0] == 400
