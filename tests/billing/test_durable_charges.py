"""A charge is never lost: refused by the database it becomes a FailedCharge the admin retries; with the
database unreachable it is journaled in DATA_DIR and replayed; a delivered answer was charged before its
last bytes left."""

import json
from decimal import Decimal

import httpx
import pytest
from django.urls import reverse

from billing import failed, settlement
from billing.charge import ChargeRequest
from billing.cost import Usage
from billing.models import FailedCharge, UsageLog
from tests.fakes.anthropic import Reply, message, stream_events, usage
from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_journal(settings):
    for path in settings.DATA_DIR.glob("pending-charges*"):
        path.unlink()
    yield
    for path in settings.DATA_DIR.glob("pending-charges*"):
        path.unlink()


def request_for(setup, request_id="client:r1", **fields):
    values = {
        "request_id": request_id, "api_key_id": setup.key.pk, "key_hash": setup.key.key_hash,
        "key_quota": Decimal(0), "user_id": setup.user.pk, "group_id": setup.group.pk, "account": setup.account,
        "model": "claude-sonnet-4-5", "usage": Usage(input_tokens=1000, output_tokens=100),
    }
    return ChargeRequest(**{**values, **fields})


def test_a_charge_the_database_refuses_is_kept_and_can_be_retried(client, admin_user):
    setup = make_setup("http://127.0.0.1:9")
    bad = request_for(setup, api_key_id=10**12)  # no such key: the insert is refused (foreign key)
    assert settlement.settle_sync(bad) is None
    kept = FailedCharge.objects.get()
    assert kept.request_id == "client:r1" and "IntegrityError" in kept.error and kept.resolved_at is None
    assert failed.open_count() == 1
    assert UsageLog.objects.count() == 0
    # An admin sees it and retries once the cause is fixed (here: the payload points at the real key).
    client.force_login(admin_user)
    page = client.get(reverse("admin:billing_failedcharge_changelist")).content.decode()
    assert "client:r1" in page and "IntegrityError" in page
    FailedCharge.objects.filter(pk=kept.pk).update(payload={**kept.payload, "api_key_id": setup.key.pk})
    response = client.post(reverse("admin:billing_failedcharge_changelist"),
                           {"action": "retry_selected", "_selected_action": [kept.pk]})
    assert response.status_code == 302
    kept.refresh_from_db()
    assert kept.resolved_at is not None and kept.usage_log.request_id == "client:r1"
    assert failed.retry(kept)  # twice is once
    assert UsageLog.objects.count() == 1
    setup.refresh()
    assert setup.user.balance == Decimal(100) - kept.usage_log.actual_cost


def test_text_the_usage_log_cannot_store_still_reaches_the_failed_charges():
    setup = make_setup("http://127.0.0.1:9")
    settlement.settle_sync(request_for(setup, model="claude\ud800"))  # a lone surrogate
    kept = FailedCharge.objects.get()
    assert kept.payload["model"] == "claude\\ud800" and kept.payload["usage"]["input_tokens"] == 1000


def test_a_journaled_charge_is_replayed_once(settings):
    setup = make_setup("http://127.0.0.1:9")
    settlement._journal([request_for(setup)], "OperationalError: server closed")
    settlement._journal([request_for(setup)], "OperationalError: server closed")  # the same request twice
    journal = settings.DATA_DIR / settlement.JOURNAL
    assert len(journal.read_text().splitlines()) == 2
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    assert settlement.replay_journal() == 2
    assert not journal.exists()
    assert UsageLog.objects.count() == 1  # idempotent by request id
    assert settlement.replay_journal() == 0


def test_a_journal_left_by_a_dead_replayer_is_picked_up(settings):
    setup = make_setup("http://127.0.0.1:9")
    line = json.dumps({"payload": settlement.to_payload(request_for(setup)), "error": "x"})
    (settings.DATA_DIR / "pending-charges.replaying-999999999").write_text(line + "\n")
    assert settlement.replay_journal() == 1
    assert UsageLog.objects.count() == 1


def test_a_json_answer_is_charged_before_it_is_delivered(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(body=message(usage_=usage(input=10, output=5))))
    response = httpx.post(gateway_url + "/v1/messages", headers={"x-api-key": setup.raw_key},
                          json={"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []})
    assert response.status_code == 200
    # No waiting for background charges: the log was committed before the answer left.
    log = UsageLog.objects.get(request_id=f"client:{response.headers['x-subrelay-request-id']}")
    assert (log.input_tokens, log.output_tokens) == (10, 5)


def test_a_stream_is_charged_before_its_last_event(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url)
    anthropic_fake.reply(Reply(events=stream_events(usage_=usage(input=10, output=7))))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 5, "stream": True, "messages": []}
    with httpx.stream("POST", gateway_url + "/v1/messages", json=body, headers={"x-api-key": setup.raw_key}) as r:
        request_id = r.headers["x-subrelay-request-id"]
        for line in r.iter_lines():
            if line == "event: message_stop":
                # The terminal event is only sent once the charge is in the database.
                assert UsageLog.objects.filter(request_id=f"client:{request_id}", output_tokens=7).exists()
                break
        else:
            pytest.fail("no message_stop")
