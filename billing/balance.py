"""The one way a person changes a user's balance: the admin page, the REST API, the CLI and the portal.

The gateway charges the same column concurrently, so the balance is never written from a value read
earlier: an adjustment is one conditional `F()` update, and setting it takes the row's write lock before
reading what it replaces. The change is recorded (`BalanceChange`) in the same transaction, with the
balance the update left, so the history and the balance agree on both engines.
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from apikeys import cache
from billing.models import BalanceChange
from core.money import nanos, to_decimal
from core.rules import RuleError
from users.models import User

MAX_BALANCE = Decimal(9_000_000_000)  # the nano-dollar BIGINT column holds up to ~9.2e9 USD
MAX_NOTE = 10_000


class BalanceError(RuleError):
    """A change the rules refuse; `message` is one line saying what is wrong, `code` its machine reason."""

    def __init__(self, message: str, code: str = "INVALID_BALANCE"):
        super().__init__(message, 400, code)
        self.code = code


def _amount(value) -> Decimal:
    try:
        return to_decimal(value)
    except (ValueError, ArithmeticError):
        raise BalanceError(f"not an amount: {value!r}", "INVALID_AMOUNT") from None


def _note(note: str | None) -> str:
    note = note or ""
    if len(note) > MAX_NOTE:
        raise BalanceError(f"the note is longer than {MAX_NOTE} characters", "INVALID_NOTE")
    return note


def check_adjustment(current: Decimal, amount: Decimal) -> None:
    """The rule of an adjustment: taking away never leaves the balance negative (a balance the gateway
    overdrew may still be topped up), and adding never takes it above MAX_BALANCE."""
    if amount < 0 and current + amount < 0:
        raise BalanceError(f"the result would be negative (the balance is {current.normalize():f})",
                           "INSUFFICIENT_BALANCE")
    if amount > 0 and current + amount > MAX_BALANCE:
        raise BalanceError(f"the result would exceed {MAX_BALANCE}", "BALANCE_TOO_LARGE")


def adjust(user: User, amount, *, kind: str, note: str = "", actor: User | None = None) -> BalanceChange:
    """Add `amount` (negative takes away), by `check_adjustment`'s rule. Sets `user.balance` to the result."""
    amount, note = _amount(amount), _note(note)
    if not amount:
        raise BalanceError("an adjustment of 0 changes nothing", "INVALID_AMOUNT")
    with transaction.atomic():
        rows = _locked(user)
        check_adjustment(rows.values_list("balance", flat=True).get(), amount)
        rows.update(balance=F("balance") + nanos(amount))
        return _record(user, amount, kind, note, actor)


def set_balance(user: User, amount, *, kind: str, note: str = "", actor: User | None = None) -> BalanceChange:
    """Make the balance exactly `amount` (0 to MAX_BALANCE); the change recorded is the difference."""
    amount, note = _amount(amount), _note(note)
    if not Decimal(0) <= amount <= MAX_BALANCE:
        raise BalanceError(f"the balance must be between 0 and {MAX_BALANCE}", "INVALID_AMOUNT")
    with transaction.atomic():
        rows = _locked(user)
        before = rows.values_list("balance", flat=True).get()
        rows.update(balance=amount)
        return _record(user, amount - before, kind, note, actor)


def record_opening(user: User, *, kind: str, actor: User | None = None) -> BalanceChange | None:
    """The first entry of a new user's history: the balance they were created with (none for 0)."""
    if not user.balance:
        return None
    return BalanceChange.objects.create(
        user=user, amount=user.balance, balance_after=user.balance, kind=kind, note="opening balance",
        actor=actor if actor is not None and actor.pk else None,
    )


def _locked(user: User):
    """The user's row, write-locked for the rest of the transaction (both engines: an UPDATE takes the
    lock, where SQLite has no SELECT ... FOR UPDATE), so no charge lands between a read and the write."""
    rows = User.objects.filter(pk=user.pk)
    if not rows.update(balance=F("balance")):
        raise BalanceError(f"no user with id {user.pk}", "USER_NOT_FOUND")
    return rows


def _record(user: User, amount: Decimal, kind: str, note: str, actor: User | None) -> BalanceChange:
    # Read inside the transaction that holds the row's lock: exactly the balance this change left.
    user.balance = User.objects.filter(pk=user.pk).values_list("balance", flat=True).get()
    change = BalanceChange.objects.create(
        user=user, amount=amount, balance_after=user.balance, kind=kind, note=note,
        actor=actor if actor is not None and actor.pk else None,
    )
    user_id = user.pk
    transaction.on_commit(lambda: cache.invalidate_user(user_id))
    return change
