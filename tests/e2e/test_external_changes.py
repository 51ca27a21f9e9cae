"""A change made by another process (an operator's `manage.py` command, here this test process) reaches a
running gateway process within about a second: through Redis in production, through the marker file in
DATA_DIR in embedded mode. The operator CLI's own commands are among those processes (the gateway's auth
and scheduler caches hold for 300 s here)."""

from io import StringIO

import httpx
import pytest
from django.core.management import call_command

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


def cli(*args):
    call_command(*args, stdout=StringIO(), stderr=StringIO())


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


def test_set_key_inactive_and_back(anthropic_fake, gateway):
    setup = make_setup(anthropic_fake.url)
    assert status_code(gateway, setup) == 200  # the key is now in the gateway's caches
    cli("set_key", setup.key.prefix, "--status", "inactive")
    assert wait_until(lambda: status_code(gateway, setup) == 401, timeout=10, interval=0.2)
    cli("set_key", str(setup.key.pk), "--status", "active")
    assert wait_until(lambda: status_code(gateway, setup) == 200, timeout=10, interval=0.2)


def test_edit_account_disabled_is_no_longer_chosen(anthropic_fake, gateway):
    setup = make_setup(anthropic_fake.url)
    assert status_code(gateway, setup) == 200
    cli("edit_account", str(setup.account.pk), "--status", "disabled")
    assert wait_until(lambda: status_code(gateway, setup) == 503, timeout=10, interval=0.2)


def test_adjust_balance_to_zero_is_refused_then_served_again(anthropic_fake, gateway):
    setup = make_setup(anthropic_fake.url, balance="1")
    assert status_code(gateway, setup) == 200
    setup.refresh()
    cli("adjust_balance", setup.user.email, f"-{setup.user.balance}", "--note", "used up")
    assert wait_until(lambda: status_code(gateway, setup) == 403, timeout=10, interval=0.2)
    cli("adjust_balance", setup.user.email, "5", "--note", "top-up")
    assert wait_until(lambda: status_code(gateway, setup) == 200, timeout=10, interval=0.2)
