"""Usage-statistics fixtures: a small world (users, keys, accounts, groups) and a usage-log factory."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest

_ids = itertools.count(1)


@pytest.fixture
def world(db):
    """Two users with a key each (plus a second key for the first), two accounts, two groups."""
    from accounts.models import Account
    from apikeys.models import ApiKey
    from groups.models import Group
    from users.models import User

    class World:
        pass

    w = World()
    w.alice = User.objects.create_user("alice@example.com", "pw-user-1234", balance=Decimal(10))
    w.bob = User.objects.create_user("bob@example.com", "pw-user-1234", balance=Decimal(10))
    w.group_a = Group.objects.create(name="ga", platform="anthropic")
    w.group_b = Group.objects.create(name="gb", platform="anthropic")
    w.account_a = Account.objects.create(name="acc-a", platform="anthropic", type="apikey")
    w.account_b = Account.objects.create(name="acc-b", platform="anthropic", type="apikey")
    w.key_a1, _ = ApiKey.objects.create_key(user=w.alice, name="a1", group=w.group_a)
    w.key_a2, _ = ApiKey.objects.create_key(user=w.alice, name="a2", group=w.group_b)
    w.key_b, _ = ApiKey.objects.create_key(user=w.bob, name="b", group=w.group_a)
    return w


@pytest.fixture
def make_log(db):
    """UsageLog rows with sensible defaults; costs are Decimal dollars."""
    from billing.models import UsageLog

    def make(user, key=None, account=None, group=None, **fields):
        defaults = {
            "request_id": f"req-{next(_ids)}", "model": "claude-sonnet-4", "input_tokens": 100,
            "output_tokens": 50, "total_cost": Decimal("0.0012345"), "actual_cost": Decimal("0.0012345"),
            "created_at": dt.datetime.now(dt.UTC),
        }
        return UsageLog.objects.create(
            user=user, api_key=key, account=account, group=group or (key.group if key else None),
            **{**defaults, **fields},
        )

    return make


@pytest.fixture(autouse=True)
def _fresh_stats_cache():
    """The statistics endpoints cache answers; each test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def s2_logs(world, make_log):
    """S2's data: 3 logs of claude-sonnet-4 unmapped, 2 mapped to the Bedrock id."""
    for _ in range(3):
        make_log(world.alice, world.key_a1, account=world.account_a, model="claude-sonnet-4")
    for _ in range(2):
        make_log(world.bob, world.key_b, account=world.account_b, model="claude-sonnet-4",
                 upstream_model="us.anthropic.claude-sonnet-4-v1")
    return world


@pytest.fixture
def admin_api(db):
    """A JSON client authenticated with the admin API key."""
    from django.test import Client

    from apikeys.models import AdminApiKey
    from tests.api.conftest import Api

    return Api(Client(), {"x-api-key": AdminApiKey.current().secret})
