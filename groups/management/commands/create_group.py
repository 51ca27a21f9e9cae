from django.core.management.base import BaseCommand, CommandError

from core.columns import range_errors
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
        group = Group(
            name=name, platform=platform, rate_multiplier=multiplier, description=description, is_exclusive=exclusive
        )
        if errors := range_errors(group):  # the bounds of the model's columns (core.columns)
            raise CommandError("; ".join(f"--{f.replace('_', '-')}: {m}" for f, m in errors.items()))
        group.save()
        from apikeys import cache

        cache.invalidate_all()
        self.stderr.write(f"Created group {group.name} (id {group.pk})")
        self.stdout.write(str(group.pk))
