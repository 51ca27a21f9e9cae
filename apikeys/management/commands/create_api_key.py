from django.core.management.base import BaseCommand, CommandError

from apikeys.services import LIMIT_FIELDS, KeyRuleError, clean_name, clean_quota, create_key
from groups.models import Group
from users.models import User


class Command(BaseCommand):
    help = (
        "Create an API key for a user; prints the secret as the only line on stdout (it is never shown again). "
        "Operators may bind any group; the self-service API enforces the exclusive/subscription rules."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="EMAIL")
        parser.add_argument("--group", metavar="NAME", help="group whose accounts serve the key")
        parser.add_argument("--name", default="", help="a label for the key")
        parser.add_argument("--quota", default="0", metavar="USD", help="spend cap in USD (0 = unlimited)")
        parser.add_argument("--expires-in-days", type=int, metavar="N", help="expire N days from now")
        for window, span in (("5h", "5 hours"), ("1d", "day (UTC)"), ("7d", "7 days")):
            parser.add_argument(f"--rate-limit-{window}", metavar="USD", help=f"spend cap per {span} (0 = off)")
        parser.add_argument("--concurrency", metavar="N", help="parallel requests of this key (0 = the user's limit)")
        parser.add_argument("--rpm-limit", metavar="N", help="requests per minute of this key (0 = unlimited)")

    def handle(self, *args, user, group, name, quota, expires_in_days, **options):
        limits = {field: _number(options[field]) for field in LIMIT_FIELDS if options.get(field) is not None}
        owner = User.objects.filter(email=user.strip().lower()).first()
        if owner is None:
            raise CommandError(f"no user with email {user}")
        bound = None
        if group:
            bound = Group.objects.filter(name=group).first()
            if bound is None:
                raise CommandError(f"no group named {group!r}")
        try:
            key, secret = create_key(
                owner, name=clean_name(name), group=bound, quota=clean_quota(quota, "--quota"),
                expires_in_days=expires_in_days, enforce_group_access=False, **limits,
            )
        except KeyRuleError as exc:
            message = exc.message.replace("expires_in_days", "--expires-in-days")
            for field in LIMIT_FIELDS:
                message = message.replace(f"{field}:", f"--{field.replace('_', '-')}:")
            raise CommandError(message)
        self.stderr.write(f"Created API key {key.masked} (id {key.pk}) for {owner.email}")
        self.stdout.write(secret)


def _number(text: str):
    """An integer when it reads as one (counts), else the text (amounts are read by clean_quota)."""
    try:
        return int(text)
    except ValueError:
        return text
