from apikeys.models import ApiKey
from apikeys.serializers import AdminKeyOut
from core.cli import ListCommand, cell


class Command(ListCommand):
    help = "List API keys (newest first) as a table, or as the REST API's JSON with --json. Secrets are never shown."
    columns = [("ID", "id"), ("KEY", "masked_key"), ("NAME", "name"), ("USER", "user_email"),
               ("GROUP", "group_name"), ("STATUS", "status"), ("QUOTA USED/LIMIT", "quota_cell"),
               ("EXPIRES", "expires_at"), ("LAST USED", "last_used_at")]

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--user", metavar="EMAIL", help="only this user's keys")
        parser.add_argument("--status", choices=ApiKey.Status.values)

    def objects(self, *, user, status, **options):
        keys = ApiKey.objects.select_related("group", "user").order_by("-id")
        if user:
            keys = keys.filter(user__email=user.strip().lower())
        if status:
            keys = keys.filter(status=status)
        return keys

    def present(self, key):
        return AdminKeyOut(key).data

    def row(self, answer):
        quota = answer["quota"]
        return {**answer, "group_name": (answer["group"] or {}).get("name", "-"),
                "quota_cell": f"{cell(answer['quota_used'])}/{cell(quota) if quota else 'unlimited'}",
                "expires_at": answer["expires_at"] or "never", "last_used_at": answer["last_used_at"] or "-"}
