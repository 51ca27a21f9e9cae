from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from core.cli import refusals
from core.payload import parse_id


class Command(BaseCommand):
    help = (
        "Zero an account's quota usage (total, daily and weekly) and restart its windows, as the admin's "
        '"Reset quota" and POST /api/v1/admin/accounts/{id}/reset-quota do.'
    )

    def add_arguments(self, parser):
        parser.add_argument("id", help="the account's id (see list_accounts)")

    def handle(self, *args, id, **options):
        with refusals():
            pk = parse_id(id, "account")
        account = Account.objects.filter(pk=pk).first()
        if account is None:
            raise CommandError(f"no account with id {pk}")
        account.reset_quota()
        self.stderr.write(f"Reset the quota of account {account.name} (id {account.pk})")
