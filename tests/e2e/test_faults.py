"""Nothing lost, nothing twice (issue 10's fault test): 2,000 mixed requests through a gateway process, with
clients that hang up mid-stream and upstream faults, then the process killed with SIGKILL under load and
started again. Every answer a client received in full has exactly one usage log, every stream a client
left was still charged, and every slot is free. On SQLite and on PostgreSQL + Redis."""

import asyncio
import random
import threading
import time

import httpx
import pytest

from billing.models import UsageLog
from tests.fakes.anthropic import Reply, error, stream_events, usage
from tests.live import ServeProcess, make_setup, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]
JSON = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**JSON, "stream": True}
SLOT_TTL = 3


class Load:
    """Mixed clients against one gateway URL; what each request's client got, by the gateway's request id."""

    def __init__(self, key: str):
        self.key = key
        self.complete: set[str] = set()  # answered in full (JSON read whole, stream through message_stop)
        self.left: set[str] = set()  # streams the client hung up on after the first event
        self.failed = 0
        self.statuses: dict[int, int] = {}
        self.stop = threading.Event()

    async def one(self, http, url: str, rng: random.Random):
        stream = rng.random() < 0.5
        hang_up = stream and rng.random() < 0.1
        headers = {"x-api-key": self.key}
        try:
            if not stream:
                response = await http.post(url + "/v1/messages", json=JSON, headers=headers)
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                json_answer = response.headers.get("content-type", "").startswith("application/json")
                if response.status_code == 200 and json_answer and b'"usage"' in response.content:
                    self.complete.add(response.headers["x-subrelay-request-id"])
                return
            async with http.stream("POST", url + "/v1/messages", json=STREAM, headers=headers) as response:
                request_id = response.headers.get("x-subrelay-request-id")
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                if response.status_code != 200:
                    return
                async for line in response.aiter_lines():
                    if hang_up and line.startswith("data:"):
                        self.left.add(request_id)
                        return  # leaving the block closes the connection
                    if line == "event: message_stop":
                        self.complete.add(request_id)
        except httpx.HTTPError:
            self.failed += 1

    def run(self, url: str, requests: int | None, concurrency: int, seed: int):
        async def worker(http, rng, remaining):
            while not self.stop.is_set() and (remaining is None or remaining):
                if remaining is not None:
                    remaining.pop()
                await self.one(http, url, rng)

        async def main():
            remaining = list(range(requests)) if requests is not None else None
            async with httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5)) as http:
                await asyncio.gather(*(worker(http, random.Random(seed + i), remaining) for i in range(concurrency)))

        asyncio.run(main())


def live_slots(key: str) -> int:
    """Slots of `key` held in Redis and not yet expired (as the gateway counts them)."""
    import redis
    from django.conf import settings

    from core.store.redis import slot_key

    client = redis.Redis.from_url(settings.REDIS_URL)
    now = client.time()[0]
    return client.zcount(slot_key(key), now - SLOT_TTL, "+inf")


def faulty_replies(count: int, rng: random.Random) -> list[Reply]:
    """The upstream's answers: mostly good, one in ten a fault (a limit, an overload, a 500, a broken stream)."""
    replies = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.03:
            replies.append(Reply(status=529, body=error("overloaded_error", "busy")))
        elif roll < 0.06:
            replies.append(Reply(status=500, body=error("api_error", "oops")))
        elif roll < 0.08:
            replies.append(Reply(status=429, body=error("rate_limit_error", "slow"), headers={"retry-after": "1"}))
        elif roll < 0.10:
            replies.append(Reply(events=stream_events(usage_=usage(input=50, output=3)), close_after=3))
        else:
            replies.append(Reply(delay=0.005))  # the default answer (JSON or SSE as asked), a little slow
    return replies


def test_faults_and_a_sigkill_lose_no_charge_and_leave_no_slot(anthropic_fake, settings):
    rng = random.Random(10)
    setup = make_setup(anthropic_fake.url, accounts=3, account_fields={"pool_mode": False})
    anthropic_fake.reply(*faulty_replies(3000, rng))
    gateway = ServeProcess(CONCURRENCY_SLOT_TTL=str(SLOT_TTL), OVERLOAD_COOLDOWN_MINUTES="0",
                           STREAM_DRAIN_TIMEOUT="10").start()
    try:
        # 1. 2,000 mixed requests, 32 at a time.
        load = Load(setup.raw_key)
        load.run(gateway.url, 2000, 32, seed=1)
        assert len(load.complete) > 1500 and load.left, (load.statuses, load.failed)
        assert wait_until(lambda: UsageLog.objects.filter(request_id__in=[f"client:{i}" for i in load.left]).count()
                          == len(load.left), timeout=30)  # the streams clients left were drained and charged
        # 2. Killed under load.
        under_fire = Load(setup.raw_key)
        thread = threading.Thread(target=under_fire.run, args=(gateway.url, None, 32, 99))
        thread.start()
        time.sleep(1.5)
        gateway.kill()
        under_fire.stop.set()
        thread.join(60)
        assert under_fire.complete, "no request completed before the kill"
        # 3. Started again.
        gateway.start()
        delivered = load.complete | under_fire.complete
        logged = set(UsageLog.objects.filter(request_id__in=[f"client:{i}" for i in delivered])
                     .values_list("request_id", flat=True))
        assert {f"client:{i}" for i in delivered} - logged == set()  # nothing delivered went uncharged
        assert UsageLog.objects.count() == UsageLog.objects.values("request_id").distinct().count()  # none twice
        # 4. Every slot comes back: the killed process's expire (a new embedded process starts with none), the
        # live ones were given back.
        anthropic_fake.reset()
        assert httpx.post(gateway.url + "/v1/messages", json=JSON, headers={"x-api-key": setup.raw_key},
                          timeout=30).status_code == 200
        if settings.REDIS_URL:
            keys = [f"user:{setup.user.pk}"] + [f"account:{a.pk}" for a in setup.accounts]
            assert wait_until(lambda: all(live_slots(k) == 0 for k in keys), timeout=SLOT_TTL + 10)
    finally:
        gateway.stop()
