from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys import services
from apikeys.models import ApiKey
from apikeys.serializers import KeyUpdateBody
from core.cli import refusals, validated

OPTION_NAMES = {"status": "--status", "quota": "--quota", "expires_in_days": "--expires-in-days"}


class Command(BaseCommand):
    help = (
        "Change an API key found by its id or its prefix (as list_keys shows it): only the options given "
        "change. The same rules as the admin page and PUT /api/v1/admin/api-keys/{id}; a running gateway "
        "picks the change up at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", metavar="KEY_PREFIX|ID")
        parser.add_argument("--status", help=f"one of {', '.join(services.USER_SETTABLE_STATUSES)}")
        parser.add_argument("--quota", metavar="USD", help="spend cap in USD (0 = unlimited)")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument("--expires-in-days", type=int, metavar="N", help="expire N days from now")
        expiry.add_argument("--no-expiry", action="store_true", help="never expire")
        parser.add_argument("--reset-quota", action="store_true", help="zero the quota used (reactivates an "
                                                                       "exhausted key)")

    def handle(self, *args, key, status, quota, expires_in_days, no_expiry, reset_quota, **options):
        found = self._key(key.strip())
        data = {name: value for name, value in (("status", status), ("quota", quota)) if value is not None}
        if no_expiry:
            data["expires_at"] = ""
        if reset_quota:
            data["reset_quota"] = True
        if not data and expires_in_days is None:
            raise CommandError("nothing to change: give at least one option (see --help)")
        body = KeyUpdateBody(found, data=data, partial=True)
        validated(body, OPTION_NAMES)
        changes = body.changes()
        with refusals(OPTION_NAMES):
            if expires_in_days is not None:
                changes["expires_at"] = timezone.now() + timedelta(days=services.clean_expires_in_days(expires_in_days))
            updated = services.update_key(found, enforce_group_access=False, **changes)
        self.stderr.write(f"Changed API key {updated.masked} (id {updated.pk}): status {updated.status}")

    def _key(self, value: str) -> ApiKey:
        if value.isascii() and value.isdigit():
            found = ApiKey.objects.filter(pk=int(value)).first() if len(value) < 19 else None
            if found is None:
                raise CommandError(f"no API key with id {value}")
            return found
        matches = list(ApiKey.objects.filter(prefix__startswith=value.rstrip("…"))[:2]) if value else []
        if not matches:
            raise CommandError(f"no API key with prefix {value!r}")
        if len(matches) > 1:
            raise CommandError(f"more than one API key starts with {value!r}: give its id (see list_keys)")
        return matches[0]
