"""Shared fixtures. Services: tests that need Redis or PostgreSQL ask for them through fixtures that
skip when they are unreachable, except under CI=true, where a missing service fails the run."""

import os

import pytest

SERVICE_SKIP = "service unavailable:"


def _require(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{SERVICE_SKIP} {reason} (CI needs it)")
    pytest.skip(f"{SERVICE_SKIP} {reason}")


@pytest.fixture(scope="session")
def redis_url():
    """A Redis for tests of the Redis implementations, whichever mode the suite runs in."""
    import redis

    url = os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        _require(f"redis at {url} ({exc})")
    return url


@pytest.fixture
def clean_redis(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()


@pytest.fixture
def fresh_account_limit_counts():
    """Account RPM and session counts live in the process-wide store, and account ids repeat between tests
    (SQLite): none of an earlier test's may count, before or after."""
    from django.conf import settings

    from core.store import get_store

    def clear():
        if settings.REDIS_URL:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL)
            for pattern in ("rpm:account:*", "session_limit:account:*"):
                for key in client.scan_iter(match=pattern):
                    client.delete(key)
        else:
            store = get_store()
            store._minutes.clear()
            store._members.clear()

    clear()
    yield
    clear()


@pytest.fixture(scope="session")
def production_mode():
    """True when the suite runs against PostgreSQL + Redis."""
    return bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))


# --- gateway end to end: fake upstreams + live server (see tests/live.py, tests/fakes/) --------------
# name → (class of the fake, the setting that points accounts without a base URL at it)
FAKES = {
    "anthropic": ("tests.fakes.anthropic.AnthropicFake", None),
    "bedrock": ("tests.fakes.bedrock.BedrockFake", "BEDROCK_ENDPOINT"),
    "gemini": ("tests.fakes.gemini.GeminiFake", "GEMINI_BASE_URL"),
    "openai": ("tests.fakes.openai.OpenAIFake", "OPENAI_BASE_URL"),
}


@pytest.fixture(scope="session")
def _fake_servers():
    """The fake upstreams of the session, each started the first time a test asks for it."""
    from django.utils.module_loading import import_string

    started = {}

    def server(name):
        if name not in started:
            started[name] = import_string(FAKES[name][0])().start()
        return started[name]

    yield server
    for fake in started.values():
        fake.stop()


def _fake_fixture(name: str):
    @pytest.fixture
    def fixture(_fake_servers, settings):
        fake = _fake_servers(name)
        if setting := FAKES[name][1]:
            setattr(settings, setting, fake.url)
        fake.reset()
        yield fake
        if hasattr(fake, "release"):
            fake.release()  # streams held by the test go on, so nothing waits past it
        fake.reset()

    fixture.__doc__ = f"The fake {name} upstream, with nothing queued or recorded."
    return fixture


anthropic_fake = _fake_fixture("anthropic")
bedrock_fake = _fake_fixture("bedrock")
gemini_fake = _fake_fixture("gemini")
openai_fake = _fake_fixture("openai")


@pytest.fixture(scope="session")
def gateway_server(django_db_setup, django_db_blocker):
    """subrelay served by uvicorn in a thread of this process (same test database)."""
    from django.conf import settings

    from tests.live import LiveServer

    # Charges a previous run journaled belong to its database, not this one.
    for stale in settings.DATA_DIR.glob("pending-charges*"):
        stale.unlink()
    if os.environ.get("REDIS_URL"):
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # only this run's own db index
    server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture
def gateway_url(gateway_server):
    """The live gateway's base URL; after the test, every pending charge has been applied."""
    from billing.settlement import drain_sync

    yield gateway_server.url
    drain_sync()


@pytest.fixture(autouse=True)
def _forget_admin_prices():
    """The admin price table and the beta policy are cached per process; a flushed test database must not
    leave them stale."""
    yield
    from billing.prices import forget_admin_prices
    from gateway import betapolicy

    forget_admin_prices()
    betapolicy.forget()


# --- object factories shared by the admin and API tests ------------------------------------------


@pytest.fixture
def make_group(db):
    from groups.models import Group

    def make(name=None, **fields):
        return Group.objects.create(name=name or f"group-{Group.objects.count() + 1}", **fields)

    return make


@pytest.fixture
def make_account(db):
    """An account; runtime columns (used amounts, starts) are written the way the gateway writes them."""
    from accounts.models import Account

    def make(**fields):
        fields.setdefault("name", f"acct-{Account.objects.count() + 1}")
        fields.setdefault("type", Account.Type.APIKEY)
        fields.setdefault("api_key", "sk-upstream-secret")
        runtime = {k: fields.pop(k) for k in list(fields) if k in Account.RUNTIME_FIELDS}
        account = Account.objects.create(**fields)
        if runtime:
            Account.objects.filter(pk=account.pk).update(**runtime)
            account.refresh_from_db()
        return account

    return make
