"""Two gateway processes (`manage.py serve`) sharing PostgreSQL and Redis: an account's base RPM and its
session limit hold in total, not per process. Production mode only."""

import asyncio
import json
import time

import httpx
import pytest
from django.conf import settings

from tests.live import ServeProcess, make_setup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_gateways(production_mode):
    if not production_mode:
        pytest.skip("several gateway processes need PostgreSQL and Redis (production mode)")
    processes = []
    try:
        for _ in range(2):
            processes.append(ServeProcess().start())
        yield [p.url for p in processes]
    finally:
        for process in processes:
            process.stop()


def limited_pair(fake, **fields) -> tuple:
    setup = make_setup(fake.url, accounts=2, account_type="setup-token")
    first = setup.accounts[0]
    for name, value in {"priority": 10, **fields}.items():
        setattr(first, name, value)
    first.save()
    return setup


def body(session: str) -> dict:
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": session})
    return {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}],
            "metadata": {"user_id": user_id}}


async def send_all(urls, key, sessions) -> list[int]:
    """Every session's request at once, alternating between the processes; their statuses."""
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(*(
            http.post(urls[i % len(urls)] + "/v1/messages", json=body(s), headers={"x-api-key": key})
            for i, s in enumerate(sessions)
        ))
    return [a.status_code for a in answers]


def served_by_first(fake) -> int:
    return sum(1 for r in fake.requests if r.headers["authorization"].endswith("-0"))


def not_near_a_minute_boundary():
    """The RPM counts per minute of the Redis clock: start well inside one, so all requests share it."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    while int(client.time()[0]) % 60 > 45:
        time.sleep(0.5)


def test_base_rpm_holds_across_processes(anthropic_fake, two_gateways):
    setup = limited_pair(anthropic_fake, base_rpm=3, rpm_sticky_buffer=0)
    not_near_a_minute_boundary()
    statuses = asyncio.run(send_all(two_gateways, setup.raw_key, [f"s{i}" for i in range(12)]))
    assert statuses == [200] * 12
    assert served_by_first(anthropic_fake) == 3  # not 3 per process


def test_max_sessions_holds_across_processes(anthropic_fake, two_gateways):
    setup = limited_pair(anthropic_fake, max_sessions=2)
    statuses = asyncio.run(send_all(two_gateways, setup.raw_key, [f"s{i}" for i in range(10)]))
    assert statuses == [200] * 10
    assert served_by_first(anthropic_fake) == 2
    first_sessions = [json.loads(json.loads(r.body)["metadata"]["user_id"])["session_id"]
                      for r in anthropic_fake.requests if r.headers["authorization"].endswith("-0")]
    anthropic_fake.requests.clear()
    # The two sessions the account holds come back through the other process: still served there.
    asyncio.run(send_all(list(reversed(two_gateways)), setup.raw_key, first_sessions))
    assert served_by_first(anthropic_fake) == 2
