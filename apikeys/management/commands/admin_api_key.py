from django.core.management.base import BaseCommand

from apikeys.models import AdminApiKey


class Command(BaseCommand):
    help = (
        "Print the admin API key (header `x-api-key` on /api/v1/admin/*), creating it if there is none. "
        "--rotate replaces it; the old key stops working at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rotate", action="store_true", help="generate a new key and revoke the old one")

    def handle(self, *args, rotate, **options):
        key = AdminApiKey.rotate() if rotate else AdminApiKey.current()
        self.stdout.write(key.secret)
