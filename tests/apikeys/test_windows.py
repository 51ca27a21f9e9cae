"""A key's spend windows (apikeys/windows.py): the rule, its copy in both stores, and the charge that moves
it (on whichever database the suite runs: SQLite embedded, PostgreSQL in production mode)."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apikeys import services, windows
from apikeys.cache import load_snapshot
from apikeys.models import ApiKey
from billing.charge import ChargeRequest, charge
from billing.cost import Usage
from core.store import get_store
from core.store.memory import MemoryStore
from core.store.redis import RedisStore
from tests.live import make_setup

HAIKU = "claude-haiku-4-5"  # $1 per million input tokens: 100,000 tokens cost $0.10


# --- the rule ------------------------------------------------------------------------------------------
def test_windows_start_where_the_reference_starts_them():
    now = datetime(2026, 12, 1, 15, 42, 7, 123, tzinfo=UTC)
    assert windows.start_for("5h", now) == now
    assert windows.start_for("1d", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert windows.start_for("7d", now) == datetime(2026, 12, 1, tzinfo=UTC)


def test_an_elapsed_window_counts_as_zero_and_a_running_one_says_when_it_resets():
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    running = windows.Window("5h", Decimal(1), Decimal(1), now - timedelta(hours=4))
    assert running.exceeded(now) and running.used_now(now) == Decimal(1)
    assert running.resets_at(now) == now + timedelta(hours=1)
    over = windows.Window("5h", Decimal(1), Decimal(5), now - timedelta(hours=5))
    assert not over.exceeded(now) and over.used_now(now) == 0 and over.resets_at(now) is None
    off = windows.Window("1d", Decimal(0), Decimal(5), now)
    assert not off.exceeded(now)
    below = windows.Window("7d", Decimal(2), Decimal("1.999999999"), now - timedelta(days=6))
    assert not below.exceeded(now)
    assert windows.first_exceeded([below, off, running], now) is running
    assert running.code == "API_KEY_RATE_5H_EXCEEDED"


# --- the copy in the store, on both stores ----------------------------------------------------------------
@pytest.fixture(params=["in-process", "redis"])
def store(request):
    if request.param == "in-process":
        return MemoryStore()
    return RedisStore(request.getfixturevalue("clean_redis"))


async def test_merging_never_goes_back(store):
    assert await store.read_windows("apikey:rate:1") is None
    store.merge_windows("apikey:rate:1", {"5h": (100, 5), "1d": (50, 7)}, 60)
    store.merge_windows("apikey:rate:1", {"5h": (100, 3), "1d": (40, 9)}, 60)  # older reports: ignored
    assert await store.read_windows("apikey:rate:1") == {"5h": (100, 5), "1d": (50, 7)}
    store.merge_windows("apikey:rate:1", {"5h": (100, 8), "1d": (60, 1)}, 60)  # larger total; a new window
    assert await store.read_windows("apikey:rate:1") == {"5h": (100, 8), "1d": (60, 1)}
    big = 10**17  # $100 million in nano-dollars: kept exactly
    store.merge_windows("apikey:rate:1", {"7d": (0, big)}, 60)
    assert (await store.read_windows("apikey:rate:1"))["7d"] == (0, big)
    store.delete_now(["apikey:rate:1"])
    assert await store.read_windows("apikey:rate:1") is None


async def test_a_sliding_minute_counts_hits(store):
    assert [await store.hit_rate("rpm:key:1", 2, 60, f"r{n}") for n in range(2)] == [0, 0]
    wait = await store.hit_rate("rpm:key:1", 2, 60, "r3")
    assert 59 < wait <= 60
    assert await store.hit_rate("rpm:key:2", 2, 60, "r1") == 0  # keys are independent
    assert await store.hit_rate("rpm:key:3", 1, 0.05, "a") == 0
    await asyncio.sleep(0.1)
    assert await store.hit_rate("rpm:key:3", 1, 0.05, "b") == 0  # the period slid past the first hit


# --- the charge ---------------------------------------------------------------------------------------------
on_database = pytest.mark.django_db(transaction=True)


def request_for(setup, tokens: int, request_id=None) -> ChargeRequest:
    key = ApiKey.objects.get(pk=setup.key.pk)
    return ChargeRequest(
        request_id=request_id or f"client:{uuid.uuid4()}", api_key_id=key.pk, key_hash=key.key_hash,
        key_quota=key.quota, user_id=setup.user.pk, group_id=setup.group.pk, account=setup.account, model=HAIKU,
        usage=Usage(input_tokens=tokens), rate_multiplier=Decimal(2), key_windows=windows.has_limits(key),
    )


def limited(**fields):
    return make_setup("http://upstream.invalid", key_fields={"rate_limit_5h": Decimal("1"), **fields})


@on_database
def test_a_charge_adds_the_actual_cost_to_every_limited_window_once():
    setup = limited(rate_limit_7d=Decimal("10"))
    before = timezone.now()
    request = request_for(setup, 100_000)  # $0.10 at multiplier 2: $0.20
    assert charge(request) is not None
    assert charge(request) is None  # the same request id again: nothing moves
    key = ApiKey.objects.get(pk=setup.key.pk)
    assert key.usage_5h == Decimal("0.2") and key.usage_7d == Decimal("0.2")
    assert key.usage_1d == 0 and key.window_1d_start is None  # no limit: untouched
    assert before <= key.window_5h_start <= timezone.now()
    assert key.window_7d_start == windows.start_for("7d", key.window_5h_start)
    assert key.quota_used == 0  # no quota: untouched, as the reference does
    charge(request_for(setup, 50_000))
    key.refresh_from_db()
    assert key.usage_5h == Decimal("0.3") and key.usage_7d == Decimal("0.3")


@on_database
def test_an_elapsed_window_restarts_with_the_charge():
    old = timezone.now() - timedelta(hours=5, seconds=1)
    setup = limited(usage_5h=Decimal("0.9"), window_5h_start=old, rate_limit_1d=Decimal("3"),
                    usage_1d=Decimal("2"), window_1d_start=windows.start_for("1d", timezone.now()))
    charge(request_for(setup, 100_000))
    key = ApiKey.objects.get(pk=setup.key.pk)
    assert key.usage_5h == Decimal("0.2") and key.window_5h_start > old  # a new window, only this charge
    assert key.usage_1d == Decimal("2.2")  # the day's window still runs


@on_database
def test_the_quota_and_the_windows_move_in_one_statement():
    setup = limited(quota=Decimal("0.3"), quota_used=Decimal("0.2"))
    charge(request_for(setup, 100_000))
    key = ApiKey.objects.get(pk=setup.key.pk)
    assert key.quota_used == Decimal("0.4") and key.status == ApiKey.Status.QUOTA_EXHAUSTED
    assert key.usage_5h == Decimal("0.2")


@on_database
def test_parallel_charges_sum_exactly_and_every_process_reads_the_same_numbers():
    setup = limited(rate_limit_5h=Decimal("100"))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: charge(request_for(setup, 1_000)), range(40)))  # 40 × $0.002
    key = ApiKey.objects.get(pk=setup.key.pk)
    assert key.usage_5h == Decimal("0.08")
    snapshot = load_snapshot(key.key_hash)
    current = asyncio.run(windows.current(snapshot))  # the store's copy, merged by each commit
    assert current[0].used == Decimal("0.08")
    assert current[0].start.replace(microsecond=0) == key.window_5h_start.replace(microsecond=0)


@on_database
def test_a_missing_copy_is_read_from_the_database_and_kept():
    start = timezone.now() - timedelta(hours=1)
    setup = limited(usage_5h=Decimal("0.7"), window_5h_start=start)
    get_store().delete_now([windows.store_key(setup.key.pk)])
    snapshot = load_snapshot(setup.key.key_hash)
    assert asyncio.run(windows.current(snapshot))[0].used == Decimal("0.7")
    assert asyncio.run(get_store().read_windows(windows.store_key(setup.key.pk)))["5h"][1] == 700_000_000


# --- setting and resetting -----------------------------------------------------------------------------------
@on_database
def test_reset_zeroes_the_windows_and_the_store_forgets():
    setup = limited()
    charge(request_for(setup, 100_000))
    snapshot = load_snapshot(setup.key.key_hash)
    assert asyncio.run(windows.current(snapshot))[0].used == Decimal("0.2")
    services.update_key(ApiKey.objects.get(pk=setup.key.pk), reset_rate_limit_usage=True)
    key = ApiKey.objects.get(pk=setup.key.pk)
    assert (key.usage_5h, key.window_5h_start) == (0, None)
    assert asyncio.run(windows.current(snapshot))[0].used == 0


@on_database
@pytest.mark.parametrize(("field", "value", "message"), [
    ("rate_limit_5h", -1, "rate_limit_5h: must be >= 0"),
    ("rate_limit_1d", "NaN", "rate_limit_1d: must be a finite number"),
    ("rate_limit_7d", "2e9", "rate_limit_7d: must be <= 1000000000"),
    ("concurrency", -1, "concurrency: must be >= 0"),
    ("rpm_limit", 10**9, "rpm_limit: must be <= 1000000"),
    ("rpm_limit", 1.5, "rpm_limit: must be an integer"),
])
def test_out_of_range_limits_are_refused_naming_the_field(field, value, message):
    setup = make_setup("http://upstream.invalid")
    with pytest.raises(services.KeyRuleError) as caught:
        services.update_key(setup.key, **{field: value})
    assert str(caught.value).startswith(message)
    with pytest.raises(services.KeyRuleError):
        services.create_key(setup.user, **{field: value})
