"""A value beyond what its column holds is a 400 naming the field (the bounds of core.columns), and
pool_mode_retry_count beyond 10 is clamped, not refused (spec S3)."""

import pytest

from tests.api.conftest import data

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/admin/groups", {"name": "g", "rate_multiplier": 1_000_000}, "rate_multiplier"),
    ("/api/v1/admin/groups", {"name": "g", "rate_multiplier": "1234567.5"}, "rate_multiplier"),
    ("/api/v1/admin/groups", {"name": "g", "sort_order": 2**31}, "sort_order"),
    ("/api/v1/admin/groups", {"name": "g", "default_validity_days": 2**31}, "default_validity_days"),
    ("/api/v1/admin/accounts", {"name": "a", "type": "apikey", "api_key": "k", "rate_multiplier": 10**6},
     "rate_multiplier"),
    ("/api/v1/admin/accounts", {"name": "a", "type": "apikey", "api_key": "k", "priority": 2**31}, "priority"),
    ("/api/v1/admin/accounts", {"name": "a", "type": "apikey", "api_key": "k", "quota_daily_reset_hour": 2**15},
     "quota_daily_reset_hour"),
    ("/api/v1/admin/users", {"email": "a@b.co", "password": "long-enough-pw", "concurrency": 2**31}, "concurrency"),
])
def test_the_api_answers_400_naming_the_field(admin_api, path, body, field):
    status, answer = admin_api.post(path, body)
    assert (status, answer["code"]) == (400, 400), answer
    assert answer["message"].startswith(f"{field}: must be <="), answer


def test_a_group_at_the_columns_maximum_is_read_back(admin_api):
    created = data(admin_api.post("/api/v1/admin/groups", {"name": "max", "rate_multiplier": "999999.9999"}))
    assert data(admin_api.get(f"/api/v1/admin/groups/{created['id']}"))["rate_multiplier"] == 999999.9999
    status, answer = admin_api.put(f"/api/v1/admin/groups/{created['id']}", {"rate_multiplier": 1_000_000})
    assert status == 400 and answer["message"].startswith("rate_multiplier:")
    assert data(admin_api.get("/api/v1/admin/groups"))["total"] == 1


@pytest.mark.parametrize("value, stored", [(25, 10), (10**20, 10), (-3, 0), (7, 7)])
def test_pool_mode_retry_count_is_clamped_by_the_api(admin_api, make_account, value, stored):
    account = make_account(pool_mode=True)
    body = data(admin_api.put(f"/api/v1/admin/accounts/{account.pk}", {"pool_mode_retry_count": value}))
    account.refresh_from_db()
    assert body["pool_mode_retry_count"] == account.pool_mode_retry_count == stored
