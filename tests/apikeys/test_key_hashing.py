import hashlib

import pytest
from django.db import connection

from apikeys.models import AdminApiKey, ApiKey
from users.models import User


@pytest.mark.django_db
def test_key_stored_as_hash_and_prefix_only():
    user = User.objects.create_user("k@example.com", "pw-123456")
    key, raw = ApiKey.objects.create_key(user=user, name="ci")
    assert raw.startswith("sk-") and len(raw) == 3 + 64
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.prefix == raw[:10] and key.masked.endswith("…")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM apikeys_apikey WHERE id = %s", [key.pk])
        row = cursor.fetchone()
    assert all(raw not in str(col) for col in row)
    assert ApiKey.objects.by_secret(raw).get() == key
    assert not ApiKey.objects.by_secret(raw + "x").exists()


@pytest.mark.django_db
def test_key_predicates():
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    user = User.objects.create_user("q@example.com", "pw-123456")
    key, _ = ApiKey.objects.create_key(user=user, quota=Decimal("5"), quota_used=Decimal("4.9"))
    assert not key.is_quota_exhausted() and key.quota_remaining == Decimal("0.1")
    key.quota_used = Decimal("5")
    assert key.is_quota_exhausted() and key.quota_remaining == 0
    unlimited, _ = ApiKey.objects.create_key(user=user, quota_used=Decimal("1000"))
    assert not unlimited.is_quota_exhausted() and unlimited.quota_remaining == -1
    key.expires_at = timezone.now() - timedelta(seconds=1)
    assert key.is_expired()


@pytest.mark.django_db
def test_ip_rules():
    user = User.objects.create_user("ip@example.com", "pw-123456")
    key, _ = ApiKey.objects.create_key(user=user, ip_whitelist=["10.0.0.0/8", "1.2.3.4"], ip_blacklist=["10.9.9.9"])
    assert key.ip_allowed("10.1.2.3") and key.ip_allowed("1.2.3.4")
    assert not key.ip_allowed("10.9.9.9") and not key.ip_allowed("8.8.8.8") and not key.ip_allowed("garbage")
    open_key, _ = ApiKey.objects.create_key(user=user)
    assert open_key.ip_allowed("8.8.8.8")


@pytest.mark.django_db
def test_admin_api_key_rotation():
    first = AdminApiKey.current()
    assert first.secret.startswith("admin-") and AdminApiKey.matches(first.secret)
    second = AdminApiKey.rotate()
    assert not AdminApiKey.matches(first.secret) and AdminApiKey.matches(second.secret)
    assert AdminApiKey.current().secret == second.secret
