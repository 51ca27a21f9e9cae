"""User API keys (/api/v1/keys): S7 create/update rules, ownership, group binding; admin key listing."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apikeys.models import ApiKey, hash_key
from tests.api.conftest import data, token_api
from users.models import Subscription

pytestmark = pytest.mark.django_db


def make_key(user, **fields):
    runtime = {k: fields.pop(k) for k in ("quota_used", "status") if k in fields}
    key, _ = ApiKey.objects.create_key(user=user, name="k", **fields)
    if runtime:
        ApiKey.objects.filter(pk=key.pk).update(**runtime)
        key.refresh_from_db()
    return key


def test_s7_1_create_with_quota_and_expiry(user_api, user):
    body = data(user_api.post("/api/v1/keys", {"name": "ci", "quota": 5, "expires_in_days": 30}))
    assert (body["quota"], body["quota_used"], body["status"]) == (5, 0, "active")
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (timezone.now() + timedelta(days=30))) < timedelta(minutes=5)
    secret = body["key"]
    assert secret.startswith("sk-") and ApiKey.objects.get(key_hash=hash_key(secret)).user == user
    assert body["key_prefix"] == secret[:10]


def test_the_secret_is_only_in_the_create_answer(user_api):
    created = data(user_api.post("/api/v1/keys", {"name": "once"}))
    secret = created["key"]
    listing = user_api.get("/api/v1/keys")
    detail = user_api.get(f"/api/v1/keys/{created['id']}")
    updated = user_api.put(f"/api/v1/keys/{created['id']}", {"name": "renamed"})
    assert secret not in repr([listing, detail, updated])
    assert "key" not in data(detail) and data(detail)["masked_key"].startswith(secret[:10])


def test_create_without_quota_and_expiry_is_unlimited(user_api):
    body = data(user_api.post("/api/v1/keys", {}))
    assert (body["quota"], body["expires_at"], body["name"]) == (0, None, "")


@pytest.mark.parametrize("body, message", [
    ({"quota": -1}, "quota: must be >= 0"),
    ({"quota": "NaN"}, "quota"),
    ({"quota": "Infinity"}, "quota"),
    ({"quota": 10**30}, "quota: must be"),
    ({"quota": 10**9 + 1}, "quota: must be <="),
    ({"quota": True}, "quota"),
    ({"quota": [1]}, "quota"),
    ({"expires_in_days": 0}, "expires_in_days: must be > 0"),
    ({"expires_in_days": -3}, "expires_in_days"),
    ({"expires_in_days": 1.5}, "expires_in_days"),
    ({"expires_in_days": 10**12}, "expires_in_days"),
    ({"expires_in_days": "30"}, "expires_in_days"),
    ({"name": "n" * 101}, "name"),
    ({"name": 5}, "name"),
    ({"ip_whitelist": ["not-an-ip"]}, "ip_whitelist"),
    ({"ip_blacklist": "1.2.3.4"}, "ip_blacklist"),
    ({"group_id": "abc"}, "Invalid group ID"),
    ({"group_id": 2**70}, "Invalid group ID"),
])
def test_invalid_create_is_400(user_api, body, message):
    status, answer = user_api.post("/api/v1/keys", body)
    assert status == 400 and message in answer["message"], answer
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("raw", ['{"quota": NaN}', '{"quota": Infinity}', '{"quota": 1e400}', '{"quota": -0.5e2}'])
def test_non_finite_and_negative_json_numbers_are_400(user_api, raw):
    status, answer = user_api.post("/api/v1/keys", raw=raw)
    assert (status, answer["code"]) == (400, 400)
    assert not ApiKey.objects.exists()


def test_s7_5_quota_changes_reactivate_an_exhausted_key(user_api, user):
    key = make_key(user, quota=Decimal(5), quota_used=Decimal("5.2"), status=ApiKey.Status.QUOTA_EXHAUSTED)
    path = f"/api/v1/keys/{key.pk}"
    assert data(user_api.put(path, {"quota": 5}))["status"] == "quota_exhausted"
    body = data(user_api.put(path, {"quota": 10}))
    assert (body["status"], body["quota"], body["quota_used"]) == ("active", 10, 5.2)
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.QUOTA_EXHAUSTED)
    assert data(user_api.put(path, {"quota": 0}))["status"] == "active"


def test_s7_6_reset_quota_keeps_ip_lists(user_api, user):
    key = make_key(
        user, quota=Decimal(5), quota_used=Decimal(5), status=ApiKey.Status.QUOTA_EXHAUSTED,
        ip_whitelist=["1.2.3.4"], ip_blacklist=["10.0.0.0/8"],
    )
    body = data(user_api.put(f"/api/v1/keys/{key.pk}", {"reset_quota": True}))
    assert (body["quota_used"], body["status"]) == (0, "active")
    assert (body["ip_whitelist"], body["ip_blacklist"]) == (["1.2.3.4"], ["10.0.0.0/8"])
    body = data(user_api.put(f"/api/v1/keys/{key.pk}", {"ip_whitelist": []}))
    assert body["ip_whitelist"] == [] and body["ip_blacklist"] == ["10.0.0.0/8"]


def test_s7_7_expires_at(user_api, user):
    key = make_key(user, expires_at=timezone.now() - timedelta(seconds=1), status=ApiKey.Status.EXPIRED)
    path = f"/api/v1/keys/{key.pk}"
    past = (timezone.now() - timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data(user_api.put(path, {"expires_at": past}))["status"] == "expired"
    tomorrow = (timezone.now() + timedelta(days=1)).astimezone(UTC).replace(microsecond=0)
    body = data(user_api.put(path, {"expires_at": tomorrow.isoformat()}))
    assert body["status"] == "active"
    assert datetime.fromisoformat(body["expires_at"]) == tomorrow
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.EXPIRED)
    body = data(user_api.put(path, {"expires_at": ""}))
    assert (body["expires_at"], body["status"]) == (None, "active")
    assert data(user_api.put(path, {"expires_at": None, "name": "x"}))["expires_at"] is None  # null = unchanged
    status, answer = user_api.put(path, {"expires_at": "2020-01-01"})
    assert status == 400 and answer["message"].startswith("Invalid expires_at format")


def test_rfc3339_with_offset_and_nanoseconds(user_api, user):
    key = make_key(user)
    body = data(user_api.put(f"/api/v1/keys/{key.pk}", {"expires_at": "2099-01-02T03:04:05.123456789+08:00"}))
    assert body["expires_at"] == "2099-01-01T19:04:05.123456Z"


def test_s7_8_status_must_be_active_or_inactive(user_api, user):
    key = make_key(user)
    for bad in ("expired", "quota_exhausted", "disabled", 1):
        status, answer = user_api.put(f"/api/v1/keys/{key.pk}", {"status": bad})
        assert status == 400 and "status" in answer["message"]
    assert data(user_api.put(f"/api/v1/keys/{key.pk}", {"status": "inactive"}))["status"] == "inactive"


def test_inactive_is_never_reactivated_automatically(user_api, user):
    key = make_key(user, quota=Decimal(1), quota_used=Decimal(2), status=ApiKey.Status.INACTIVE)
    body = data(user_api.put(f"/api/v1/keys/{key.pk}", {"quota": 0, "reset_quota": True, "expires_at": ""}))
    assert body["status"] == "inactive"


def test_explicit_status_comes_before_the_rules(user_api, user):
    key = make_key(user, quota=Decimal(5), quota_used=Decimal(5), status=ApiKey.Status.QUOTA_EXHAUSTED)
    body = data(user_api.put(f"/api/v1/keys/{key.pk}", {"status": "inactive", "quota": 10}))
    assert body["status"] == "inactive"


def test_s7_11_another_users_key_is_not_found_and_unchanged(user_api, make_user):
    other = make_user("bob@example.com")
    key = make_key(other, quota=Decimal(3))
    for call in (
        lambda: user_api.get(f"/api/v1/keys/{key.pk}"),
        lambda: user_api.put(f"/api/v1/keys/{key.pk}", {"quota": 100, "name": "mine"}),
        lambda: user_api.delete(f"/api/v1/keys/{key.pk}"),
    ):
        status, body = call()
        assert (status, body["code"]) == (404, 404)
    key.refresh_from_db()
    assert (key.quota, key.name) == (3, "k")


def test_list_shows_only_own_keys_paginated(user_api, user, make_user):
    mine = [make_key(user) for _ in range(3)]
    make_key(make_user("bob@example.com"))
    body = data(user_api.get("/api/v1/keys?page_size=2"))
    assert (body["total"], body["pages"], len(body["items"])) == (3, 2, 2)
    assert {k["id"] for k in body["items"]} <= {k.pk for k in mine}


def test_delete_own_key(user_api, user):
    key = make_key(user)
    data(user_api.delete(f"/api/v1/keys/{key.pk}"))
    assert not ApiKey.objects.filter(pk=key.pk).exists()


def test_update_writes_only_changed_columns(user_api, user):
    """A charge that lands between the read and the write must not be lost."""
    key = make_key(user, quota=Decimal(10))
    ApiKey.objects.filter(pk=key.pk).update(quota_used=Decimal("1.5"))  # the gateway, meanwhile
    data(user_api.put(f"/api/v1/keys/{key.pk}", {"name": "renamed"}))
    key.refresh_from_db()
    assert key.quota_used == Decimal("1.5")


# --- group binding -----------------------------------------------------------------------------------------


def test_plain_group_binding(user_api, make_group):
    group = make_group("std")
    body = data(user_api.post("/api/v1/keys", {"group_id": group.pk}))
    assert body["group_id"] == group.pk and body["group"]["name"] == "std"


def test_exclusive_group_needs_allowed_groups(user_api, user, make_group):
    group = make_group("vip", is_exclusive=True)
    status, body = user_api.post("/api/v1/keys", {"group_id": group.pk})
    assert (status, body["reason"]) == (403, "GROUP_NOT_ALLOWED")
    user.allowed_groups.add(group)
    assert data(user_api.post("/api/v1/keys", {"group_id": group.pk}))["group_id"] == group.pk


def test_subscription_group_needs_an_active_subscription(user_api, user, make_group):
    group = make_group("sub", subscription_type="subscription")
    status, body = user_api.post("/api/v1/keys", {"group_id": group.pk})
    assert (status, body["reason"]) == (403, "GROUP_NOT_ALLOWED")
    sub = Subscription.objects.create(user=user, group=group, expires_at=timezone.now() - timedelta(days=1))
    assert user_api.post("/api/v1/keys", {"group_id": group.pk})[0] == 403
    Subscription.objects.filter(pk=sub.pk).update(expires_at=timezone.now() + timedelta(days=1))
    assert data(user_api.post("/api/v1/keys", {"group_id": group.pk}))["group_id"] == group.pk


def test_rebinding_to_a_forbidden_group_is_refused(user_api, user, make_group):
    key = make_key(user)
    group = make_group("vip", is_exclusive=True)
    status, body = user_api.put(f"/api/v1/keys/{key.pk}", {"group_id": group.pk, "name": "x"})
    assert (status, body["reason"]) == (403, "GROUP_NOT_ALLOWED")
    key.refresh_from_db()
    assert (key.group_id, key.name) == (None, "k")


def test_unknown_group_is_404(user_api):
    status, body = user_api.post("/api/v1/keys", {"group_id": 424242})
    assert (status, body["reason"]) == (404, "GROUP_NOT_FOUND")


# --- admin listing -----------------------------------------------------------------------------------------


def test_admin_lists_all_keys_with_filters(admin_api, user, make_user, make_group):
    group = make_group("g")
    bob = make_user("bob@example.com")
    k1 = make_key(user, group=group)
    k2 = make_key(bob, status=ApiKey.Status.INACTIVE)
    body = data(admin_api.get("/api/v1/admin/api-keys"))
    assert body["total"] == 2 and {k["id"] for k in body["items"]} == {k1.pk, k2.pk}
    assert [k["id"] for k in data(admin_api.get(f"/api/v1/admin/api-keys?user_id={bob.pk}"))["items"]] == [k2.pk]
    assert [k["id"] for k in data(admin_api.get(f"/api/v1/admin/api-keys?group_id={group.pk}"))["items"]] == [k1.pk]
    assert [k["id"] for k in data(admin_api.get("/api/v1/admin/api-keys?status=inactive"))["items"]] == [k2.pk]
    assert admin_api.get("/api/v1/admin/api-keys?user_id=x")[0] == 400
    assert admin_api.get("/api/v1/admin/api-keys?status=bogus")[0] == 400


def test_admin_may_bind_any_group(admin_api, user, make_group):
    key = make_key(user)
    group = make_group("vip", is_exclusive=True)
    body = data(admin_api.put(f"/api/v1/admin/api-keys/{key.pk}", {"group_id": group.pk}))
    assert body["group_id"] == group.pk and body["user_email"] == user.email


def test_keys_endpoint_needs_a_user(client):
    response = client.get("/api/v1/keys")
    assert response.status_code == 401 and response.json()["code"] == 401


def test_a_disabled_users_token_stops_working(user):
    api = token_api(user)
    user.status = "disabled"
    user.save()
    status, body = api.get("/api/v1/keys")
    assert (status, body["reason"]) == (401, "USER_INACTIVE")


def test_available_groups_follow_the_binding_rules(user_api, user, make_group):
    open_group = make_group("open", sort_order=3)
    vip = make_group("vip", is_exclusive=True, sort_order=1)
    sub = make_group("sub", subscription_type="subscription", sort_order=2)
    make_group("off", status="inactive")
    make_group("other-vip", is_exclusive=True)
    Subscription.objects.create(user=user, group=make_group("lapsed", subscription_type="subscription"),
                                expires_at=timezone.now() - timedelta(days=1))
    assert [g["name"] for g in data(user_api.get("/api/v1/groups/available"))] == ["open"]
    user.allowed_groups.add(vip)
    Subscription.objects.create(user=user, group=sub, expires_at=timezone.now() + timedelta(days=1))
    groups = data(user_api.get("/api/v1/groups/available"))
    assert [g["name"] for g in groups] == ["vip", "sub", "open"]
    assert "sort_order" not in groups[0] and "model_routing" not in groups[0]
    for group in (open_group, vip, sub):  # every listed group is bindable
        assert user_api.post("/api/v1/keys", {"group_id": group.pk})[0] == 200
