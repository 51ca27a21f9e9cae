import secrets

from django.core.management.base import BaseCommand

from users.models import User


class Command(BaseCommand):
    help = "Create the first admin unless one exists; prints its email and generated password once."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@subrelay.local")

    def handle(self, *args, email, **options):
        if User.objects.filter(role=User.Role.ADMIN).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email, password)
        self.stdout.write(f"Admin created: {email} / {password}  (shown once; change it in the admin)")
