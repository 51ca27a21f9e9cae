"""Periodic jobs: one list, scheduled by Celery beat in production and by a thread when embedded."""

import threading

import pytest

from config import background

CALLS = []
RAN = threading.Event()


def record():
    CALLS.append(threading.current_thread().name)
    RAN.set()


def test_celery_beat_schedules_every_periodic_job():
    from config.celery import app

    app.finalize()
    scheduled = {entry["args"][0]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert background.PERIODIC_TASKS, "no periodic jobs registered"
    for seconds, dotted in background.PERIODIC_TASKS:
        assert scheduled[dotted] == seconds
    assert "config.background.run" in app.tasks


@pytest.mark.django_db
def test_the_celery_task_runs_a_job_by_name():
    assert background.run.apply(args=("accounts.tasks.refresh_expiring_tokens",)).get() == 0


def test_in_process_runner_runs_jobs_on_its_thread(monkeypatch):
    monkeypatch.setattr(background, "PERIODIC_TASKS", [(3600, f"{__name__}.record")])
    background.start_in_process()
    assert RAN.wait(10)
    assert CALLS[0] == "subrelay-background"


AGAIN = []
RAN_TWICE = threading.Event()


def again():
    AGAIN.append(1)
    if len(AGAIN) == 2:
        RAN_TWICE.set()


def test_in_process_runner_keeps_the_jobs_it_started_with(monkeypatch):
    monkeypatch.setattr(background, "PERIODIC_TASKS", [(1, f"{__name__}.again")])
    background.start_in_process()
    # Jobs registered later (an app, a test) must not break the loop that is running.
    monkeypatch.setattr(background, "PERIODIC_TASKS", [(3600, f"{__name__}.record")])
    assert RAN_TWICE.wait(10)
