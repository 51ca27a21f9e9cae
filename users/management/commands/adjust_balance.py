from django.core.management.base import BaseCommand, CommandError

from billing import balance
from billing.models import BalanceChange
from core.cli import cell, refusals
from users.models import User


class Command(BaseCommand):
    help = (
        "Add AMOUNT (USD; negative takes away) to a user's balance in one atomic update, recorded in the "
        "balance history with the note. Prints the new balance. The same rules as the admin page and "
        "POST /api/v1/admin/users/{id}/balance."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("amount", help="USD, e.g. 10 or -2.5")
        parser.add_argument("--note", required=True, help="why: kept in the balance history")

    def handle(self, *args, email, amount, note, **options):
        user = User.objects.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"no user with email {email}")
        if not note.strip():
            raise CommandError("--note: must not be empty")
        with refusals():
            change = balance.adjust(user, amount, kind=BalanceChange.Kind.CLI, note=note)
        after = cell(change.balance_after)
        self.stderr.write(f"Balance of {user.email}: {'+' if change.amount > 0 else ''}{cell(change.amount)} USD, "
                          f"now {after} USD")
        self.stdout.write(after)
