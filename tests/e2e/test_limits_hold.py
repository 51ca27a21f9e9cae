"""A balance, a key quota or a key spend window running out stops the requests that start after the charge
that crossed it: 32 clients at once overrun it by at most the requests already in flight (31 here), never
more."""

import asyncio
from decimal import Decimal

import httpx
import pytest

from tests.fakes.anthropic import Reply, message, usage
from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)
CLIENTS = 32
COST = Decimal("0.0001")  # 100 input tokens of claude-haiku-4-5 at $1 per million
CROSSING = 100  # the 100th charge takes $0.01 to 0
BODY = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


async def hammer(gateway_url: str, key: str, refused_code: str) -> int:
    """CLIENTS clients, each sending requests until refused; how many were served."""
    served = 0

    async def client(http):
        nonlocal served
        for _ in range(100):
            response = await http.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": key})
            if response.status_code != 200:
                assert response.json()["error"]["code"] == refused_code, response.text
                return
            served += 1

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    return served


@pytest.fixture
def cheap_answers(anthropic_fake):
    anthropic_fake.reply(*[Reply(body=message(usage_=usage(input=100, output=0))) for _ in range(1000)])
    return anthropic_fake


def test_balance(cheap_answers, gateway_url):
    setup = make_setup(cheap_answers.url, balance="0.01")
    served = asyncio.run(hammer(gateway_url, setup.raw_key, "INSUFFICIENT_BALANCE"))
    setup.refresh()
    assert CROSSING <= served <= CROSSING + CLIENTS - 1
    assert setup.user.balance == Decimal("0.01") - served * COST
    assert setup.user.balance >= -(CLIENTS - 1) * COST
    again = httpx.post(gateway_url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key})
    assert again.status_code == 403 and again.json()["error"]["code"] == "INSUFFICIENT_BALANCE"


def test_key_quota(cheap_answers, gateway_url):
    setup = make_setup(cheap_answers.url, key_fields={"quota": Decimal("0.01")})
    served = asyncio.run(hammer(gateway_url, setup.raw_key, "API_KEY_QUOTA_EXHAUSTED"))
    setup.refresh()
    assert CROSSING <= served <= CROSSING + CLIENTS - 1
    assert setup.key.quota_used == served * COST and setup.key.status == "quota_exhausted"


def test_key_5h_window(cheap_answers, gateway_url):
    """The spend windows keep the same bound: read from the store every charge has updated."""
    setup = make_setup(cheap_answers.url, key_fields={"rate_limit_5h": Decimal("0.01")})
    served = asyncio.run(hammer(gateway_url, setup.raw_key, "API_KEY_RATE_5H_EXCEEDED"))
    setup.refresh()
    assert CROSSING <= served <= CROSSING + CLIENTS - 1
    assert setup.key.usage_5h == served * COST
