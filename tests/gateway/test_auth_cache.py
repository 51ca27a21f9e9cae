"""The key-auth cache (apikeys/cache.py): snapshots, invalidation through signals, Redis and pub/sub."""

import os
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from apikeys import cache
from apikeys.models import ApiKey
from tests.live import make_setup, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_snapshot_survives_json_round_trip():
    setup = make_setup("http://upstream.invalid", key_fields={
        "quota": Decimal("5.5"), "expires_at": timezone.now(), "ip_whitelist": ["10.0.0.0/8"]})
    snapshot = cache.load_snapshot(setup.key.key_hash)
    assert cache.KeySnapshot.from_json(snapshot.to_json()) == snapshot
    assert snapshot.quota == Decimal("5.5") and snapshot.group_id == setup.group.pk


def test_unknown_key_snapshot_is_none():
    assert cache.load_snapshot("0" * 64) is None


def test_one_query_on_a_miss(django_assert_num_queries):
    setup = make_setup("http://upstream.invalid")
    with django_assert_num_queries(1):
        cache.load_snapshot(setup.key.key_hash)


def test_queryset_update_needs_explicit_invalidation(anthropic_fake, gateway_url):
    """Signals cover save(); an .update() caller invalidates itself — and then the change is seen."""
    setup = make_setup(anthropic_fake.url)
    headers = {"x-api-key": setup.raw_key}
    assert httpx.post(gateway_url + "/v1/messages", json=BODY, headers=headers).status_code == 200
    ApiKey.objects.filter(pk=setup.key.pk).update(status=ApiKey.Status.INACTIVE)
    cache.invalidate_user(setup.user.pk)
    assert httpx.post(gateway_url + "/v1/messages", json=BODY, headers=headers).status_code == 401


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="production mode only (Redis)")
def test_invalidation_from_another_process_reaches_this_one(anthropic_fake, gateway_url):
    """Another process invalidates by deleting the Redis entry and publishing the hash; this process's
    in-memory copy must go too."""
    import redis

    from core.store.redis import RedisStore

    setup = make_setup(anthropic_fake.url)
    headers = {"x-api-key": setup.raw_key}
    assert httpx.post(gateway_url + "/v1/messages", json=BODY, headers=headers).status_code == 200
    assert setup.key.key_hash in cache._local
    ApiKey.objects.filter(pk=setup.key.pk).update(status=ApiKey.Status.INACTIVE)  # no signal
    other = redis.Redis.from_url(os.environ["REDIS_URL"])
    other.delete(cache.SHARED_PREFIX + setup.key.key_hash)
    RedisStore(os.environ["REDIS_URL"]).publish(cache.CHANNEL, setup.key.key_hash)
    assert wait_until(lambda: setup.key.key_hash not in cache._local)
    assert httpx.post(gateway_url + "/v1/messages", json=BODY, headers=headers).status_code == 401


async def test_a_cold_burst_loads_the_key_once(monkeypatch):
    """200 requests arriving after the entry expired share one database load (no stampede)."""
    from asgiref.sync import sync_to_async

    setup = await sync_to_async(make_setup)("http://upstream.invalid")
    await sync_to_async(cache.invalidate_key)(setup.key.key_hash)
    loads = []
    real = cache.load_snapshot

    def counting(key_hash):
        loads.append(key_hash)
        return real(key_hash)

    monkeypatch.setattr(cache, "load_snapshot", counting)
    import asyncio

    results = await asyncio.gather(*(cache.lookup(setup.key.key_hash) for _ in range(200)))
    assert len(loads) == 1
    assert all(r is not None and r.key_id == setup.key.pk for r in results)
