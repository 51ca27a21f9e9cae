"""Periodic background work: one list, run by Celery beat in production and by a thread when embedded."""

import importlib
import logging
import threading
import time

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)

# (every N seconds, "module.function"). Apps append their periodic jobs here.
PERIODIC_TASKS: list[tuple[int, str]] = []
PERIODIC_TASKS.append((settings.TOKEN_REFRESH_INTERVAL, "accounts.tasks.refresh_expiring_tokens"))
# Last-use times of accounts are batched in memory; the gateway flushes them itself, this catches the tail.
PERIODIC_TASKS.append((int(settings.LAST_USED_FLUSH_INTERVAL), "gateway.scheduler.flush_last_used"))
# Charges journaled while the database was unreachable (the gateway also replays them itself).
PERIODIC_TASKS.append((60, "billing.settlement.replay_journal"))
# Usage rollups from their watermark, and the raw-log retention (rollups stay).
PERIODIC_TASKS.append((settings.USAGE_AGGREGATION_INTERVAL, "usage.rollup.run_aggregation"))
PERIODIC_TASKS.append((3600, "usage.rollup.purge_old_logs"))


def _call(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)()


@shared_task(name="config.background.run")
def run(dotted: str):
    try:
        return _call(dotted)
    finally:
        close_old_connections()


def start_in_process():
    """Run PERIODIC_TASKS on a daemon thread (embedded mode: one process, no Celery)."""

    tasks = list(PERIODIC_TASKS)  # the jobs as registered when the server started

    def loop():
        due = {dotted: 0.0 for _, dotted in tasks}
        while True:
            now = time.monotonic()
            for seconds, dotted in tasks:
                if now >= due[dotted]:
                    due[dotted] = now + seconds
                    try:
                        _call(dotted)
                    except Exception:
                        log.exception("background task %s failed", dotted)
                    finally:
                        close_old_connections()
            time.sleep(1)

    if tasks:
        threading.Thread(target=loop, name="subrelay-background", daemon=True).start()
