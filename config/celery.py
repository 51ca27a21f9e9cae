"""Celery app for production mode (REDIS_URL set): `celery -A config worker` and `celery -A config beat`.

In the embedded mode the same task functions run on an in-process schedule (config/background.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("subrelay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_periodic_tasks(sender, **kwargs):
    from config.background import PERIODIC_TASKS

    for seconds, dotted in PERIODIC_TASKS:
        sender.add_periodic_task(seconds, sender.signature("config.background.run", args=(dotted,)), name=dotted)
