from django.db.models import Prefetch

from accounts.models import Account
from accounts.serializers import AccountOut
from core.cli import ListCommand, cell
from groups.models import Group, Platform


class Command(ListCommand):
    help = "List the upstream accounts (by priority) as a table, or as the REST API's JSON with --json."
    columns = [("ID", "id"), ("NAME", "name"), ("PLATFORM", "platform"), ("TYPE", "type"), ("STATUS", "status"),
               ("PRIORITY", "priority"), ("CONCURRENCY", "concurrency"), ("GROUPS", "group_names"),
               ("QUOTA USED/LIMIT", "quota_cell")]

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--platform", choices=Platform.values)
        parser.add_argument("--status", choices=Account.Status.values)
        parser.add_argument("--group", metavar="NAME", help="only the accounts of this group")

    def objects(self, *, platform, status, group, **options):
        accounts = Account.objects.prefetch_related(
            Prefetch("groups", queryset=Group.objects.order_by("sort_order", "id"))).order_by("priority", "id")
        if platform:
            accounts = accounts.filter(platform=platform)
        if status:
            accounts = accounts.filter(status=status)
        if group:
            accounts = accounts.filter(groups__name=group)
        return accounts

    def present(self, account):
        return AccountOut(account).data

    def row(self, answer):
        limit = answer.get("quota_limit")
        quota_cell = f"{cell(answer.get('quota_used', 0))}/{cell(limit)}" if limit else "-"
        return {**answer, "group_names": ",".join(g["name"] for g in answer["groups"]) or "-",
                "quota_cell": quota_cell}
