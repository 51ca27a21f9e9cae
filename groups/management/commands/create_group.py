from django.core.management.base import BaseCommand, CommandError

from core.money import to_decimal
from groups.models import Group, Platform


class Command(BaseCommand):
    help = "Create a group; prints its id."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--platform", required=True, choices=Platform.values)
        parser.add_argument("--rate-multiplier", default="1", help="multiplies the list price users pay (default 1)")
        parser.add_argument("--description", default="")
        parser.add_argument("--exclusive", action="store_true", help="only users allowed explicitly may bind keys")

    def handle(self, *args, name, platform, rate_multiplier, description, exclusive, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("name: 1 to 100 characters")
        if Group.objects.filter(name=name).exists():
            raise CommandError(f"a group named {name!r} already exists")
        try:
            multiplier = to_decimal(rate_multiplier)
        except (ValueError, ArithmeticError):
            raise CommandError(f"--rate-multiplier: not a number: {rate_multiplier!r}")
        if not 0 <= multiplier <= 1_000_000:
            raise CommandError("--rate-multiplier: must be between 0 and 1000000")
        group = Group.objects.create(
            name=name, platform=platform, rate_multiplier=multiplier, description=description, is_exclusive=exclusive
        )
        from apikeys import cache

        cache.invalidate_all()
        self.stderr.write(f"Created group {group.name} (id {group.pk})")
        self.stdout.write(str(group.pk))
