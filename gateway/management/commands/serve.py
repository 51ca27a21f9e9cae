import os

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from config.server import uvicorn_options


class Command(BaseCommand):
    help = "Serve the gateway, the admin and the REST API with uvicorn (HOST/PORT from the environment)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 1)),
            help="Worker processes; more than one needs REDIS_URL (shared slots and caches).",
        )

    def handle(self, *args, host, port, workers, **options):
        if workers > 1 and not settings.REDIS_URL:
            self.stderr.write("More than one worker needs REDIS_URL: slots and caches must be shared.")
            raise SystemExit(2)
        if settings.TASKS_IN_PROCESS:
            from config.background import start_in_process

            start_in_process()
        self.stdout.write(f"subrelay on http://{host}:{port}/ (admin at /admin/)")
        uvicorn.run("config.asgi:application", host=host, port=port, workers=workers, **uvicorn_options())
