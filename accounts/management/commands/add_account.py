import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from accounts.services import AccountRuleError, save_account
from core.money import to_decimal
from groups.models import Group, Platform


def _secret(value):
    """`-` reads the secret from stdin, so it stays out of the process list and shell history."""
    return sys.stdin.readline().strip() if value == "-" else (value or "")


class Command(BaseCommand):
    help = "Add an upstream account; prints its id. Secret options accept `-` to read the value from stdin."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--platform", required=True, choices=Platform.values)
        parser.add_argument("--type", required=True, choices=Account.Type.values, dest="account_type")
        parser.add_argument("--base-url", default="", help="empty = the platform's default")
        parser.add_argument("--api-key", help="apikey/upstream accounts; Bedrock in apikey auth mode")
        parser.add_argument("--access-token", help="oauth / setup-token accounts")
        parser.add_argument("--refresh-token", help="oauth accounts")
        parser.add_argument("--auth-mode", choices=Account.BedrockAuth.values, default="sigv4", help="Bedrock")
        parser.add_argument("--aws-access-key-id", default="")
        parser.add_argument("--aws-secret-access-key")
        parser.add_argument("--aws-session-token")
        parser.add_argument("--aws-region", default="us-east-1")
        parser.add_argument("--aws-force-global", action="store_true",
                            help="Bedrock: call the global. cross-region inference profile")
        parser.add_argument("--pool-mode", action="store_true",
                            help="apikey/bedrock in front of an upstream pool: retry 401/403/429 in place, never mark")
        parser.add_argument("--pool-mode-retries", type=int, default=3, metavar="N", help="0-10 (default 3)")
        parser.add_argument("--group", action="append", default=[], metavar="NAME", help="repeat for several groups")
        parser.add_argument("--priority", type=int, default=50, help="lower is preferred (default 50)")
        parser.add_argument("--concurrency", type=int, default=3, help="parallel requests (0 = unlimited)")
        parser.add_argument("--quota-limit", default="0", metavar="USD", help="total spend cap (apikey/bedrock)")
        parser.add_argument("--daily-limit", default="0", metavar="USD")
        parser.add_argument("--weekly-limit", default="0", metavar="USD")
        # Limits of anthropic oauth / setup-token accounts (see the README's "Limits").
        parser.add_argument("--base-rpm", type=int, default=0, metavar="N", help="requests per minute (0 = off)")
        parser.add_argument("--rpm-strategy", choices=Account.RpmStrategy.values, default="tiered")
        parser.add_argument("--rpm-sticky-buffer", type=int, metavar="N", help="default: 20%% of the base RPM")
        parser.add_argument("--max-sessions", type=int, default=0, metavar="N", help="0 = off")
        parser.add_argument("--session-idle-timeout", type=int, default=5, metavar="MINUTES")
        parser.add_argument("--window-cost-limit", default="0", metavar="USD", help="per 5-hour window (0 = off)")
        parser.add_argument("--window-cost-sticky-reserve", default="10", metavar="USD")

    def handle(self, *args, **o):
        if not o["name"].strip() or len(o["name"].strip()) > 100:
            raise CommandError("name: 1 to 100 characters")
        groups = []
        for name in o["group"]:
            group = Group.objects.filter(name=name).first()
            if group is None:
                raise CommandError(f"no group named {name!r}")
            groups.append(group.pk)
        if o["base_url"] and not o["base_url"].startswith(("http://", "https://")):
            raise CommandError("--base-url: must be an http:// or https:// URL")
        limits = {}
        for option, field in (("quota_limit", "quota_limit"), ("daily_limit", "quota_daily_limit"),
                              ("weekly_limit", "quota_weekly_limit"), ("window_cost_limit", "window_cost_limit"),
                              ("window_cost_sticky_reserve", "window_cost_sticky_reserve")):
            try:
                limits[field] = to_decimal(o[option])
            except (ValueError, ArithmeticError):
                raise CommandError(f"--{option.replace('_', '-')}: not an amount: {o[option]!r}")
        account = Account(
            name=o["name"].strip(), platform=o["platform"], type=o["account_type"], base_url=o["base_url"],
            api_key=_secret(o["api_key"]), access_token=_secret(o["access_token"]),
            refresh_token=_secret(o["refresh_token"]), bedrock_auth_mode=o["auth_mode"],
            aws_access_key_id=o["aws_access_key_id"], aws_secret_access_key=_secret(o["aws_secret_access_key"]),
            aws_session_token=_secret(o["aws_session_token"]), aws_region=o["aws_region"],
            aws_force_global=o["aws_force_global"], pool_mode=o["pool_mode"],
            pool_mode_retry_count=max(0, min(o["pool_mode_retries"], 10)),
            priority=o["priority"], concurrency=o["concurrency"], base_rpm=o["base_rpm"],
            rpm_strategy=o["rpm_strategy"], rpm_sticky_buffer=o["rpm_sticky_buffer"], max_sessions=o["max_sessions"],
            session_idle_timeout_minutes=o["session_idle_timeout"], **limits,
        )
        try:
            save_account(account, groups)
        except AccountRuleError as exc:
            raise CommandError(exc.message)
        self.stderr.write(f"Added {account.type} account {account.name} (id {account.pk})")
        self.stdout.write(str(account.pk))
