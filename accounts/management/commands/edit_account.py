from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from accounts.serializers import AccountBody
from accounts.services import save_account
from core.cli import refusals, validated
from core.payload import parse_id
from groups.models import Group

# option → the REST body's field (GET/PUT /api/v1/admin/accounts/{id} reads the same body)
OPTIONS = {
    "name": "name", "base_url": "base_url", "priority": "priority", "concurrency": "concurrency",
    "status": "status", "rate_multiplier": "rate_multiplier", "notes": "notes",
    "quota_limit": "quota_limit", "quota_daily_limit": "quota_daily_limit",
    "quota_weekly_limit": "quota_weekly_limit",
}


class Command(BaseCommand):
    help = (
        "Change an upstream account: only the options given change. The same rules as the admin page and "
        "PUT /api/v1/admin/accounts/{id}; a running gateway picks the change up at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", help="the account's id (see list_accounts)")
        parser.add_argument("--name")
        parser.add_argument("--base-url", help='"" = the platform\'s default')
        parser.add_argument("--priority", type=int, help="lower is preferred")
        parser.add_argument("--concurrency", type=int, help="parallel requests (0 = unlimited)")
        parser.add_argument("--status", choices=Account.Status.values)
        parser.add_argument("--rate-multiplier", metavar="N", help="the account's cost multiplier")
        parser.add_argument("--notes")
        parser.add_argument("--quota-limit", metavar="USD", help="total spend cap (0 = none; apikey/bedrock)")
        parser.add_argument("--quota-daily-limit", metavar="USD", help="daily spend cap (0 = none)")
        parser.add_argument("--quota-weekly-limit", metavar="USD", help="weekly spend cap (0 = none)")
        parser.add_argument("--group", action="append", metavar="NAME",
                            help="make the account a member of exactly these groups (repeat for several)")

    def handle(self, *args, **o):
        names = {field: f"--{option.replace('_', '-')}" for option, field in OPTIONS.items()}
        with refusals():
            pk = parse_id(o["id"], "account")
        account = Account.objects.filter(pk=pk).first()
        if account is None:
            raise CommandError(f"no account with id {pk}")
        data = {field: o[option] for option, field in OPTIONS.items() if o[option] is not None}
        if o["group"] is not None:
            data["group_ids"] = [self._group(name) for name in o["group"]]
        if not data:
            raise CommandError("nothing to change: give at least one option (see --help)")
        body = AccountBody(account, data=data, partial=True)
        validated(body, names)
        with refusals(names):
            save_account(account, body.apply(account))
        self.stderr.write(f"Changed account {account.name} (id {account.pk}): {', '.join(sorted(data))}")

    def _group(self, name: str) -> int:
        group = Group.objects.filter(name=name).first()
        if group is None:
            raise CommandError(f"--group: no group named {name!r}")
        return group.pk
