"""A thousand requests with upstream errors, broken streams and clients that hang up at random: the
gateway answers every one it can, and afterwards every user and account slot and wait counter is back
to 0 (no request leaks a slot, whichever way it ended)."""

import asyncio
import random

import httpx
import pytest

from tests.fakes.anthropic import Reply, error, message, stream_events
from tests.live import make_setup, slot_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 1000
CLIENTS = 24


def upstream_replies(rng: random.Random, n: int) -> list[Reply]:
    """What the upstream answers, in order: mostly fine, some errors that fail over (none that mark an
    account for long: 500/502/503 and 429 without reset), some client errors, some broken streams."""
    replies = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.12:
            replies.append(Reply(status=rng.choice([500, 502, 503]), body=error("api_error", "boom")))
        elif roll < 0.17:
            replies.append(Reply(status=429, body=error("rate_limit_error", "no reset given")))
        elif roll < 0.20:
            replies.append(Reply(status=400, body=error("invalid_request_error", "bad")))
        elif roll < 0.30:
            replies.append(Reply(events=stream_events(texts=("a",) * 8), close_after=rng.randint(1, 6)))
        elif roll < 0.45:
            replies.append(Reply(events=stream_events(texts=("a",) * 8), delay=0.002))
        else:
            replies.append(Reply(body=message()))
    return replies


async def one_request(client: httpx.AsyncClient, key: str, n: int, rng: random.Random) -> str:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "stream": rng.random() < 0.5,
            "messages": [{"role": "user", "content": f"request {n}"}]}
    headers = {"x-api-key": key}
    mode = rng.random()
    try:
        if mode < 0.15:  # hang up before the answer starts
            request = client.post("/v1/messages", json=body, headers=headers)
            await asyncio.wait_for(request, timeout=rng.uniform(0, 0.01))
            return "done"
        if mode < 0.30:  # hang up in the middle of the answer
            async with client.stream("POST", "/v1/messages", json=body, headers=headers) as response:
                async for _ in response.aiter_raw():
                    break
            return "hung up"
        response = await client.post("/v1/messages", json=body, headers=headers)
        raw = await response.aread()
        if response.status_code == 500 and b"boom" not in raw:
            return f"gateway failure: {raw[:300]!r}"  # an upstream 500 relayed after the last switch is fine
        return str(response.status_code)
    except (TimeoutError, httpx.HTTPError):
        return "hung up"


def test_slots_all_return_after_a_storm(anthropic_fake, gateway_url, caplog):
    rng = random.Random(20261128)
    setup = make_setup(anthropic_fake.url, accounts=3, account_fields={"concurrency": 6},
                       user_fields={"concurrency": 10})
    anthropic_fake.reply(*upstream_replies(rng, REQUESTS))

    async def storm():
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=gateway_url, timeout=60, limits=limits) as client:
            queue = list(range(REQUESTS))
            outcomes = []

            async def worker():
                while queue:
                    outcomes.append(await one_request(client, setup.raw_key, queue.pop(), rng))

            await asyncio.gather(*(worker() for _ in range(CLIENTS)))
            return outcomes

    outcomes = asyncio.run(storm())
    assert len(outcomes) == REQUESTS
    assert outcomes.count("200") > REQUESTS // 3
    assert not [o for o in outcomes if o.startswith("gateway failure")]

    keys = [f"user:{setup.user.pk}"] + [f"account:{a.pk}" for a in setup.accounts]
    assert wait_until(lambda: all(slot_count(k) == 0 for k in keys), timeout=30), {k: slot_count(k) for k in keys}
    assert wait_until(lambda: all(waiting(k) == 0 for k in keys), timeout=10)
    # Every slot came back through a release, not through the lease's garbage-collection safety net.
    assert not [r for r in caplog.records if "dropped without release" in r.getMessage()]


def waiting(key: str) -> int:
    from django.conf import settings

    from core.store import get_store
    from core.store.redis import wait_key

    if settings.REDIS_URL:
        import redis

        return int(redis.Redis.from_url(settings.REDIS_URL).get(wait_key(key)) or 0)
    return get_store()._waiting.get(key, 0)
