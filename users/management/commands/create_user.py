import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from billing.balance import record_opening
from billing.models import BalanceChange
from core.columns import range_errors
from core.money import to_decimal
from users.models import User


class Command(BaseCommand):
    help = (
        "Create a user. Without --password a password is generated and printed as the only line on stdout "
        "(shown once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", help="at least 8 characters; generated when omitted")
        parser.add_argument("--balance", default="0", help="starting balance in USD (default 0)")
        parser.add_argument("--concurrency", type=int, default=5, help="parallel gateway requests (0 = unlimited)")
        parser.add_argument("--admin", action="store_true", help="make the user an admin (staff, superuser)")

    def handle(self, *args, email, password, balance, concurrency, admin, **options):
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"not a valid email address: {email!r}")
        if User.objects.filter(email=email).exists():
            raise CommandError(f"a user with email {email} already exists")
        try:
            amount = to_decimal(balance)
        except (ValueError, ArithmeticError):
            raise CommandError(f"--balance: not an amount: {balance!r}")
        if amount < 0:
            raise CommandError("--balance: must be >= 0")
        if errors := range_errors(User(email=email, balance=amount, concurrency=concurrency)):
            raise CommandError("; ".join(f"--{field}: {message}" for field, message in errors.items()))
        if password is not None and len(password) < 8:
            raise CommandError("--password: at least 8 characters")
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        create = User.objects.create_superuser if admin else User.objects.create_user
        with transaction.atomic():
            user = create(email, password, balance=amount, concurrency=concurrency)
            record_opening(user, kind=BalanceChange.Kind.CLI)
        self.stderr.write(f"Created {'admin' if admin else 'user'} {user.email} (id {user.pk})")
        if generated:
            self.stdout.write(password)
