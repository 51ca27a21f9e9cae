"""Two gateway processes (`manage.py serve` on two ports) sharing PostgreSQL and Redis: a user's
concurrency limit and a key's RPM, concurrency and spend window hold across both, and their slots are all
given back. Production mode only."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from apikeys.models import ApiKey
from tests.fakes.anthropic import Reply, message, stream_events, usage
from tests.live import make_setup, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "stream": True, "messages": [{"role": "user", "content": "x"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def two_gateways(production_mode):
    if not production_mode:
        pytest.skip("several gateway processes need PostgreSQL and Redis (production mode)")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL, "DATA_DIR": str(settings.DATA_DIR),
        "CONCURRENCY_WAIT_TIMEOUT": "1", "LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen([sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 30
        for url, process in zip(urls, processes, strict=True):
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gateway on {url} did not start: {process.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def user_slots(user_id: int) -> int:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL).zcard(f"concurrency:user:{user_id}")


def test_user_concurrency_holds_across_processes(anthropic_fake, two_gateways):
    first, second = two_gateways
    setup = make_setup(anthropic_fake.url, user_fields={"concurrency": 2})
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1), Reply(events=stream_events(), hold_after=1))
    headers = {"x-api-key": setup.raw_key}

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as client:
            # One long stream on each process: the user's two slots.
            held = []
            for url in (first, second):
                response = await client.send(client.build_request("POST", url + "/v1/messages", json=BODY,
                                                                  headers=headers), stream=True)
                assert response.status_code == 200
                held.append(response)
            assert user_slots(setup.user.pk) == 2
            # More requests on either process wait, then are refused: the limit is shared.
            refused = await asyncio.gather(*(
                client.post(url + "/v1/messages", json={**BODY, "stream": False}, headers=headers)
                for url in (first, second, first, second)
            ))
            assert [r.status_code for r in refused] == [429] * 4
            assert {r.json()["error"]["type"] for r in refused} == {"rate_limit_error"}
            anthropic_fake.release()
            for response in held:
                raw = await response.aread()
                assert b"message_stop" in raw
                await response.aclose()

    asyncio.run(scenario())
    assert len(anthropic_fake.requests) == 2  # the refused ones never reached the upstream
    assert wait_until(lambda: user_slots(setup.user.pk) == 0)
    ok = httpx.post(second + "/v1/messages", json={**BODY, "stream": False}, headers=headers, timeout=30)
    assert ok.status_code == 200


def test_an_account_marked_by_one_process_is_skipped_by_the_other(anthropic_fake, two_gateways):
    from accounts.models import Account
    from tests.fakes.anthropic import error

    first, second = two_gateways
    setup = make_setup(anthropic_fake.url, accounts=2)
    Account.objects.filter(pk=setup.accounts[1].pk).update(priority=60)  # account 0 is preferred
    headers = {"x-api-key": setup.raw_key}

    def ask(url, text):
        body = {**BODY, "stream": False, "messages": [{"role": "user", "content": text}]}
        return httpx.post(url + "/v1/messages", json=body, headers=headers, timeout=30).status_code

    assert ask(second, "warm up") == 200  # the second process now caches the group's accounts
    anthropic_fake.reply(Reply(status=529, body=error("overloaded_error", "busy")))
    assert ask(first, "overload") == 200  # account 0 answers 529: marked, the first process fails over
    assert ask(second, "after") == 200
    keys = [r.headers["x-api-key"] for r in anthropic_fake.requests]
    assert keys == ["sk-ant-upstream-0", "sk-ant-upstream-0", "sk-ant-upstream-1", "sk-ant-upstream-1"]


def test_a_keys_limits_hold_across_processes(anthropic_fake, two_gateways):
    """RPM, concurrency and the 5 h spend window of one key, used through both processes, hold in total."""
    from decimal import Decimal

    first, second = two_gateways
    urls = [first, second]
    cheap = {**BODY, "stream": False, "model": "claude-haiku-4-5"}  # 100 input tokens: $0.0001

    def post(url, setup, body=cheap):
        return httpx.post(url + "/v1/messages", json=body, headers={"x-api-key": setup.raw_key}, timeout=30)

    # Requests per minute: 3 in total, whichever process serves them.
    rpm = make_setup(anthropic_fake.url, key_fields={"rpm_limit": 3})
    anthropic_fake.reply(*[Reply(body=message(usage_=usage(input=1, output=1))) for _ in range(3)])
    answers = [post(urls[n % 2], rpm) for n in range(6)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429, 429]
    assert {r.json()["error"]["type"] for r in answers[3:]} == {"rate_limit_error"}

    # The 5 h window: $0.0002 is two requests in total, not two per process.
    window = make_setup(anthropic_fake.url, key_fields={"rate_limit_5h": Decimal("0.0002")})
    anthropic_fake.reply(*[Reply(body=message(usage_=usage(input=100, output=0))) for _ in range(2)])
    assert post(first, window).status_code == 200
    assert post(second, window).status_code == 200
    for url in urls:
        refused = post(url, window)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "API_KEY_RATE_5H_EXCEEDED"
    assert ApiKey.objects.get(pk=window.key.pk).usage_5h == Decimal("0.0002")

    # Concurrency 1: a stream held on one process keeps the other from starting a second request.
    single = make_setup(anthropic_fake.url, key_fields={"concurrency": 1})
    anthropic_fake.reply(Reply(events=stream_events(), hold_after=1), Reply(body=message()))

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as client:
            held = await client.send(client.build_request("POST", first + "/v1/messages", json=BODY,
                                                          headers={"x-api-key": single.raw_key}), stream=True)
            assert held.status_code == 200
            refused = await client.post(second + "/v1/messages", json=cheap, headers={"x-api-key": single.raw_key})
            assert refused.status_code == 429
            assert "Concurrency limit exceeded for key" in refused.json()["error"]["message"]
            anthropic_fake.release()
            assert b"message_stop" in await held.aread()
            await held.aclose()

    asyncio.run(scenario())
    assert wait_until(lambda: redis_zcard(f"concurrency:key:{single.key.pk}") == 0)
    assert post(second, single).status_code == 200


def redis_zcard(name: str) -> int:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL).zcard(name)
