from django.core.management.base import BaseCommand

from core.cli import refusals
from usage.rollup import aggregate, parse_since


class Command(BaseCommand):
    help = (
        "Bring the usage rollups up to date from their watermark; --since rebuilds them from that date "
        "(YYYY-MM-DD in TIME_ZONE, or an ISO datetime) to now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="rebuild from here (default: from the watermark)")

    def handle(self, *args, since=None, **options):
        with refusals():
            start = parse_since(since, "--since") if since is not None else None
        result = aggregate(since=start)
        self.stdout.write(
            f"aggregated {result['logs']} usage logs from {result['start'].isoformat()} "
            f"to {result['watermark'].isoformat()}"
        )
