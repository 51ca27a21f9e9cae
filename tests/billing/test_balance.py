"""Balance history: one service changes the balance and records it (amount, balance after, note, who, how),
exactly under concurrency on both engines, and refuses what the rules refuse without changing anything."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from billing import balance
from billing.models import BalanceChange
from users.models import User

ADMIN, API, CLI = BalanceChange.Kind.ADMIN, BalanceChange.Kind.API, BalanceChange.Kind.CLI


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice@example.com", None, balance=Decimal(10))


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("ops@example.com", "pw-12345678")


def test_adjust_records_amount_balance_after_note_actor_and_kind(alice, operator):
    change = balance.adjust(alice, "2.000000001", kind=ADMIN, note="refund for #42", actor=operator)
    alice.refresh_from_db()
    assert alice.balance == Decimal("12.000000001")
    stored = BalanceChange.objects.get()
    assert stored == change
    assert (stored.user, stored.amount, stored.balance_after, stored.kind, stored.note, stored.actor) == (
        alice, Decimal("2.000000001"), Decimal("12.000000001"), ADMIN, "refund for #42", operator)


def test_taking_away_and_setting_record_signed_differences(alice):
    balance.adjust(alice, Decimal("-3.5"), kind=CLI, note="chargeback")
    balance.set_balance(alice, Decimal("1"), kind=API, note="reset")
    assert list(BalanceChange.objects.order_by("id").values_list("amount", "balance_after", "kind", "actor")) == [
        (Decimal("-3.5"), Decimal("6.5"), CLI, None), (Decimal("-5.5"), Decimal("1"), API, None)]
    assert alice.balance == Decimal(1)


@pytest.mark.parametrize("call, code", [
    (lambda u: balance.adjust(u, "-10.000000001", kind=CLI), "INSUFFICIENT_BALANCE"),
    (lambda u: balance.adjust(u, balance.MAX_BALANCE, kind=CLI), "BALANCE_TOO_LARGE"),
    (lambda u: balance.adjust(u, "ten", kind=CLI), "INVALID_AMOUNT"),
    (lambda u: balance.adjust(u, "NaN", kind=CLI), "INVALID_AMOUNT"),
    (lambda u: balance.adjust(u, "1", kind=CLI, note="x" * (balance.MAX_NOTE + 1)), "INVALID_NOTE"),
    (lambda u: balance.set_balance(u, "-1", kind=API), "INVALID_AMOUNT"),
])
def test_refusals_change_and_record_nothing(alice, call, code):
    with pytest.raises(balance.BalanceError) as refused:
        call(alice)
    assert refused.value.code == code and refused.value.message
    alice.refresh_from_db()
    assert alice.balance == Decimal(10) and not BalanceChange.objects.exists()


def test_an_overdrawn_balance_can_still_be_topped_up(alice):
    User.objects.filter(pk=alice.pk).update(balance=Decimal("-0.25"))  # the gateway charged past zero
    balance.adjust(alice, 5, kind=ADMIN)
    assert alice.balance == Decimal("4.75")


def test_deleting_the_admin_keeps_the_history(alice, operator):
    balance.adjust(alice, 1, kind=ADMIN, actor=operator)
    operator.delete()
    assert BalanceChange.objects.get().actor is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_adjustments_sum_exactly():
    """80 adjustments from 8 threads, each on its own connection: the sum is exact and every recorded
    balance-after is a distinct step of the same sequence."""
    user = User.objects.create_user("busy@example.com", None, balance=Decimal(0))
    amounts = [Decimal("0.000000001") * (i + 1) if i % 4 else Decimal("1.1") for i in range(80)]

    def run(amount):
        from django.db import close_old_connections

        try:
            return balance.adjust(User(pk=user.pk), amount, kind=CLI).balance_after
        finally:
            close_old_connections()

    with ThreadPoolExecutor(8) as pool:
        afters = list(pool.map(run, amounts))
    user.refresh_from_db()
    assert user.balance == sum(amounts)
    assert sum(BalanceChange.objects.values_list("amount", flat=True)) == sum(amounts)
    assert len(set(afters)) == 80 and max(afters) == sum(amounts)


def test_a_new_users_balance_opens_the_history(alice, operator):
    assert balance.record_opening(alice, kind=ADMIN, actor=operator).amount == Decimal(10)
    empty = User.objects.create_user("empty@example.com", None)
    assert balance.record_opening(empty, kind=CLI) is None
    assert list(BalanceChange.objects.values_list("user__email", "amount", "balance_after", "actor")) == [
        ("alice@example.com", Decimal(10), Decimal(10), operator.pk)]
