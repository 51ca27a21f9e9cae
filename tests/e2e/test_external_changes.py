"""A change made by another process (an operator's `manage.py` command, here this test process) reaches a
running gateway process within about a second: through Redis in production, through the marker file in
DATA_DIR in embedded mode."""

import httpx
import pytest

from tests.live import ServeProcess, make_setup, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gateway():
    process = ServeProcess(AUTH_CACHE_LOCAL_TTL="300", SCHEDULER_SNAPSHOT_MAX_AGE="300").start()
    yield process
    process.stop()


def status_code(gateway, setup):
    return httpx.post(gateway.url + "/v1/messages", json=BODY, headers={"x-api-key": setup.raw_key},
                      timeout=30).status_code


def test_a_disabled_key_is_refused_within_a_second(anthropic_fake, gateway):
    setup = make_setup(anthropic_fake.url)
    assert status_code(gateway, setup) == 200  # the key is now in the gateway's caches (for 300 s)
    setup.key.status = "inactive"
    setup.key.save()
    assert wait_until(lambda: status_code(gateway, setup) == 401, timeout=3, interval=0.2)


def test_a_paused_account_is_no_longer_chosen_within_a_second(anthropic_fake, gateway):
    setup = make_setup(anthropic_fake.url)
    assert status_code(gateway, setup) == 200
    setup.account.schedulable = False
    setup.account.save()
    assert wait_until(lambda: status_code(gateway, setup) == 503, timeout=3, interval=0.2)
