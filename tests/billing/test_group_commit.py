"""Charges waiting together are applied in one transaction (a group commit): each keeps its own result and
exact sums, one bad charge does not cost the others theirs, and two batches never deadlock."""

import sqlite3
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection

from accounts.models import Account
from billing import settlement
from billing.charge import ChargeRequest, charge_together
from billing.cost import Usage
from billing.models import FailedCharge, UsageLog
from tests.live import make_setup

pytestmark = pytest.mark.django_db(transaction=True)


def request_for(setup, request_id, account=None, **fields):
    values = {
        "request_id": request_id, "api_key_id": setup.key.pk, "key_hash": setup.key.key_hash,
        "key_quota": Decimal(0), "user_id": setup.user.pk, "group_id": setup.group.pk,
        "account": account or setup.account, "model": "claude-sonnet-4-5",
        "usage": Usage(input_tokens=1000 + len(request_id), output_tokens=100),
    }
    return ChargeRequest(**{**values, **fields})


def setups_sharing_accounts(users: int, accounts: int):
    """`users` users whose requests are served by the same `accounts` accounts, each with a quota."""
    setups = [make_setup("http://127.0.0.1:9", accounts=accounts if not i else 0,
                         account_fields={"quota_limit": Decimal(1000)}) for i in range(users)]
    return setups, setups[0].accounts


def test_charges_settled_together_each_get_their_own_log_and_sum_exactly():
    setups, shared = setups_sharing_accounts(users=3, accounts=2)
    reqs = [request_for(setups[i % 3], f"client:r{i}", account=shared[i % 2]) for i in range(30)]
    reqs.append(request_for(setups[0], "client:r0", account=shared[0]))  # the same request again

    entries = settlement.settle_together(reqs)

    assert [e.request_id for e in entries[:30]] == [r.request_id for r in reqs[:30]]
    assert entries[30] is None  # charged once, earlier in the same batch
    assert UsageLog.objects.count() == 30
    for setup in setups:
        own = sum((e.actual_cost for e in entries[:30] if e.user_id == setup.user.pk), Decimal(0))
        setup.refresh()
        assert own > 0 and setup.user.balance == Decimal(100) - own
    for account in shared:
        served = sum((e.total_cost for e in entries[:30] if e.account_id == account.pk), Decimal(0))
        assert Account.objects.get(pk=account.pk).quota_used == served


def test_a_batch_is_all_or_nothing_and_one_bad_charge_keeps_only_itself_aside():
    setup = make_setup("http://127.0.0.1:9")
    good, bad, other = (request_for(setup, "client:a"), request_for(setup, "client:b", api_key_id=10**12),
                        request_for(setup, "client:c"))

    with pytest.raises(IntegrityError):  # no such key: the foreign key refuses the whole transaction
        charge_together([good, bad, other])
    assert UsageLog.objects.count() == 0
    setup.refresh()
    assert setup.user.balance == Decimal(100)

    first, refused, third = settlement.settle_together([good, bad, other])
    assert first.request_id == "client:a" and refused is None and third.request_id == "client:c"
    assert sorted(UsageLog.objects.values_list("request_id", flat=True)) == ["client:a", "client:c"]
    assert FailedCharge.objects.get().request_id == "client:b"
    setup.refresh()
    assert setup.user.balance == Decimal(100) - first.actual_cost - third.actual_cost


def test_the_charge_threads_settle_every_submitted_charge_once():
    setups, shared = setups_sharing_accounts(users=4, accounts=2)
    futures, lock = [], threading.Lock()

    def client(number):
        for i in range(25):
            future = settlement.submit(request_for(setups[number % 4], f"client:{number}-{i}", account=shared[i % 2]))
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = [future.result(timeout=60) for future in futures]

    assert len({e.request_id for e in entries}) == 400 and UsageLog.objects.count() == 400
    for setup in setups:
        setup.refresh()
        assert setup.user.balance == Decimal(100) - sum(
            (e.actual_cost for e in entries if e.user_id == setup.user.pk), Decimal(0))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="holds SQLite's write lock from another connection")
def test_a_batch_the_locked_database_cannot_take_is_journaled_whole_and_replayed(settings):
    setup = make_setup("http://127.0.0.1:9")
    reqs = [request_for(setup, f"client:locked-{i}") for i in range(5)]
    for path in settings.DATA_DIR.glob("pending-charges*"):
        path.unlink()
    connection.close()
    options = connection.settings_dict["OPTIONS"]
    timeout, options["timeout"] = options["timeout"], 0.05  # give up on the lock at once, not after 30 s
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert settlement.settle_together(reqs) == [None] * 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        options["timeout"] = timeout
        connection.close()

    journal = settings.DATA_DIR / settlement.JOURNAL
    assert len(journal.read_text().splitlines()) == 5 and UsageLog.objects.count() == 0
    assert settlement.replay_journal() == 5
    assert UsageLog.objects.count() == 5 and not journal.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite takes one writer at a time")
def test_batches_locking_the_same_rows_in_opposite_orders_do_not_deadlock():
    setups, shared = setups_sharing_accounts(users=6, accounts=3)
    errors = []

    def batch(round_number, reverse):
        reqs = [request_for(setups[i % 6], f"client:{round_number}-{reverse}-{i}", account=shared[i % 3])
                for i in range(36)]
        barrier.wait()
        try:
            charge_together(reqs[::-1] if reverse else reqs)
        except Exception as exc:  # PostgreSQL answers a deadlock by aborting one of them
            errors.append(exc)
        finally:
            connection.close()

    for round_number in range(10):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=batch, args=(round_number, reverse)) for reverse in (False, True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert UsageLog.objects.count() == 10 * 2 * 36


def test_an_account_crossing_its_quota_tells_the_scheduler_after_the_commit():
    from accounts.signals import scheduling_changed

    setups, shared = setups_sharing_accounts(users=1, accounts=1)
    Account.objects.filter(pk=shared[0].pk).update(quota_limit=Decimal("0.000001"))
    shared[0].refresh_from_db()
    heard = []

    def receiver(**kwargs):  # a scheduler reloading now must already see the crossing
        heard.append((connection.in_atomic_block, Account.objects.get(pk=shared[0].pk).quota_used))

    scheduling_changed.connect(receiver)
    try:
        (entry,) = settlement.settle_together([request_for(setups[0], "client:over", account=shared[0])])
    finally:
        scheduling_changed.disconnect(receiver)
    assert heard and all(not in_transaction and used == entry.total_cost for in_transaction, used in heard)
