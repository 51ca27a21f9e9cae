from core.cli import ListCommand
from users.models import User
from users.serializers import AdminUserOut


class Command(ListCommand):
    help = "List users (by id) as a table, or as the REST API's JSON with --json."
    columns = [("ID", "id"), ("EMAIL", "email"), ("ROLE", "role"), ("STATUS", "status"),
               ("BALANCE (USD)", "balance"), ("CONCURRENCY", "concurrency"), ("CREATED", "created_at")]

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--role", choices=User.Role.values)
        parser.add_argument("--status", choices=User.Status.values)
        parser.add_argument("--search", metavar="TEXT", help="part of the email")

    def objects(self, *, role, status, search, **options):
        users = User.objects.prefetch_related("allowed_groups").order_by("id")
        if role:
            users = users.filter(role=role)
        if status:
            users = users.filter(status=status)
        if search:
            users = users.filter(email__icontains=search)
        return users

    def present(self, user):
        return AdminUserOut(user).data
