"""Fixtures for the scheduling tests: accounts in a group, a clean limiter/sticky/snapshot state per test,
and the fake OAuth token endpoint."""

import itertools
import os

import pytest
from asgiref.sync import sync_to_async

from tests.fakes.oauth import FakeOAuth

_names = itertools.count(1)


async def orm(fn, *args, **kwargs):
    """Run ORM work from an async test on the same thread the code under test uses (sync_to_async)."""
    return await sync_to_async(fn)(*args, **kwargs)


@pytest.fixture(autouse=True)
def fresh_scheduling_state(settings):
    """Slots, sticky bindings and snapshots are process-wide: start every test from nothing."""
    from core import redis as core_redis
    from core import store
    from gateway import slots
    from gateway.scheduler import lastused, snapshot, sticky

    def clear():
        store._stores.clear()  # a fresh store per test (memory), new Redis script handles (Redis)
        slots._held.clear()
        lastused.forget()
        sticky.forget()
        snapshot._snapshots.clear()
        core_redis._clients.clear()  # clients are bound to a test's event loop
        if os.environ.get("REDIS_URL"):
            import redis

            redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()

    clear()
    yield
    clear()


@pytest.fixture(autouse=True)
async def close_worker_connections():
    """Give back the connection the sync_to_async worker thread took, so the test database can be
    dropped and the PostgreSQL pool does not run dry over the session."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
def make_group(db):
    from groups.models import Group

    def create(**fields):
        fields.setdefault("name", f"group-{next(_names)}")
        return Group.objects.create(**fields)

    async def make(**fields):
        return await orm(create, **fields)

    return make


@pytest.fixture
def make_account(db):
    """async: an account (apikey by default) added to `group` (if given) at the end of its drag order."""
    from accounts.models import Account

    def create(group=None, **fields):
        fields.setdefault("name", f"account-{next(_names)}")
        fields.setdefault("api_key", "sk-upstream")
        account = Account.objects.create(**fields)
        if group is not None:
            group.accounts.add(account)
        return account

    async def make(group=None, **fields):
        return await orm(create, group, **fields)

    return make


@pytest.fixture
def fake_oauth(settings):
    server = FakeOAuth().start()
    settings.CLAUDE_OAUTH_TOKEN_URL = server.url
    settings.TOKEN_REFRESH_RETRY_BACKOFF = 0.01
    yield server
    server.stop()

