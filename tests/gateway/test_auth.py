"""Key auth on the live gateway (gateway/auth.py): every outcome with the reference's status and code."""

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from tests.live import make_setup
from users.models import Subscription

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def post(url, headers=None, path="/v1/messages", params=None):
    return httpx.post(url + path, json=BODY, headers=headers or {}, params=params, timeout=10)


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["code"] == code
    return body


@pytest.fixture
def setup(anthropic_fake):
    return make_setup(anthropic_fake.url)


def test_key_from_each_header(setup, gateway_url):
    for headers in ({"x-api-key": setup.raw_key}, {"Authorization": f"Bearer {setup.raw_key}"},
                    {"x-goog-api-key": setup.raw_key}):
        assert post(gateway_url, headers).status_code == 200


def test_missing_key(gateway_url):
    assert_error(post(gateway_url), 401, "API_KEY_REQUIRED")


def test_unknown_key(gateway_url):
    body = assert_error(post(gateway_url, {"x-api-key": "sk-nope"}), 401, "INVALID_API_KEY")
    assert body["error"]["type"] == "authentication_error"


def test_key_in_query_is_refused(setup, gateway_url):
    response = post(gateway_url, {"x-api-key": setup.raw_key}, params={"key": setup.raw_key})
    assert response.status_code == 400


def test_inactive_key_s7_4(setup, gateway_url):
    setup.key.status = ApiKey.Status.INACTIVE
    setup.key.save()
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 401, "API_KEY_DISABLED")


def test_ip_rules(setup, gateway_url, settings):
    setup.key.ip_whitelist = ["10.1.0.0/16"]
    setup.key.save()
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 403, "ACCESS_DENIED")
    forwarded = {"x-api-key": setup.raw_key, "X-Forwarded-For": "10.1.2.3, 127.0.0.1"}
    assert_error(post(gateway_url, forwarded), 403, "ACCESS_DENIED")  # from an untrusted peer: ignored
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert post(gateway_url, forwarded).status_code == 200
    setup.key.ip_whitelist, setup.key.ip_blacklist = [], ["127.0.0.1"]
    setup.key.save()
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 403, "ACCESS_DENIED")


def test_disabled_user(setup, gateway_url):
    setup.user.status = "disabled"
    setup.user.save()
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 401, "USER_INACTIVE")


def test_exhausted_status(setup, gateway_url):
    setup.key.status = ApiKey.Status.QUOTA_EXHAUSTED
    setup.key.save()
    body = assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 429, "API_KEY_QUOTA_EXHAUSTED")
    assert body["error"]["message"] == "API key 额度已用完"


def test_expired_status_and_expiry_time_s7_4(setup, gateway_url):
    setup.key.expires_at = timezone.now() - timedelta(seconds=1)
    setup.key.save()
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 403, "API_KEY_EXPIRED")
    setup.key.expires_at, setup.key.status = None, ApiKey.Status.EXPIRED
    setup.key.save()
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 403, "API_KEY_EXPIRED")


def test_quota_used_up(setup, gateway_url):
    setup.key.quota, setup.key.quota_used = Decimal("1"), Decimal("1")
    setup.key.save()
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 429, "API_KEY_QUOTA_EXHAUSTED")


def test_insufficient_balance(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, balance="0")
    assert_error(post(gateway_url, {"x-api-key": setup.raw_key}), 403, "INSUFFICIENT_BALANCE")


def test_subscription_group(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, balance="0",
                       group_fields={"subscription_type": "subscription", "daily_limit_usd": Decimal("1")})
    headers = {"x-api-key": setup.raw_key}
    assert_error(post(gateway_url, headers), 403, "SUBSCRIPTION_NOT_FOUND")
    sub = Subscription.objects.create(user=setup.user, group=setup.group,
                                      expires_at=timezone.now() - timedelta(days=1))
    assert_error(post(gateway_url, headers), 403, "SUBSCRIPTION_INVALID")
    sub.expires_at = timezone.now() + timedelta(days=1)
    sub.save()
    assert post(gateway_url, headers).status_code == 200  # balance 0 does not matter
    sub.daily_usage, sub.daily_window_start = Decimal("1"), timezone.now()
    sub.save()
    assert_error(post(gateway_url, headers), 429, "USAGE_LIMIT_EXCEEDED")
    sub.daily_window_start = timezone.now() - timedelta(days=2)  # the window ended: counts as unused
    sub.save()
    assert post(gateway_url, headers).status_code == 200


def test_key_without_group(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    setup.key.group = None
    setup.key.save()
    response = post(gateway_url, {"x-api-key": setup.raw_key})
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_usage_endpoint_works_for_exhausted_and_expired_keys(setup, gateway_url):
    setup.key.quota, setup.key.quota_used = Decimal("5"), Decimal("5.2")
    setup.key.status = ApiKey.Status.QUOTA_EXHAUSTED
    setup.key.expires_at = timezone.now() - timedelta(days=1)
    setup.key.save()
    response = httpx.get(gateway_url + "/v1/usage", headers={"x-api-key": setup.raw_key})
    assert response.status_code == 200
    data = response.json()
    assert data["mode"] == "quota_limited" and data["status"] == "quota_exhausted"
    assert data["quota"] == {"limit": 5.0, "used": 5.2, "remaining": 0.0}
    assert data["isValid"] is False and data["expires_at"]


def test_edits_are_seen_by_the_next_request_s7_12(setup, gateway_url):
    headers = {"x-api-key": setup.raw_key}
    assert post(gateway_url, headers).status_code == 200  # cached now
    setup.key.status = ApiKey.Status.QUOTA_EXHAUSTED
    setup.key.save()
    assert_error(post(gateway_url, headers), 429, "API_KEY_QUOTA_EXHAUSTED")
    setup.key.status = ApiKey.Status.ACTIVE
    setup.key.save()
    assert post(gateway_url, headers).status_code == 200
    setup.user.balance = Decimal("0")
    setup.user.save()
    assert_error(post(gateway_url, headers), 403, "INSUFFICIENT_BALANCE")
    setup.user.balance = Decimal("1")
    setup.user.save()
    setup.group.status = "active"
    setup.group.save()
    assert post(gateway_url, headers).status_code == 200


def test_last_used_is_touched(setup, gateway_url):
    assert post(gateway_url, {"x-api-key": setup.raw_key}).status_code == 200
    import time

    for _ in range(100):
        setup.key.refresh_from_db()
        if setup.key.last_used_at:
            break
        time.sleep(0.02)
    assert setup.key.last_used_at is not None
