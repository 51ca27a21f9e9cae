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


@pytest.fixture(scope="session")
def production_mode():
    """True when the suite runs against PostgreSQL + Redis."""
    return bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
