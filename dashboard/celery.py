"""The Celery application and its beat schedule (kept in code so schedule changes show in diffs)."""

from __future__ import annotations

import datetime as dt
import os

from celery import Celery
from celery.schedules import crontab

from dashboard.env import env_int

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("suitehealth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Read here rather than from django.conf.settings: this module is imported while settings load.
SWEEP_SECONDS = env_int("SUITEHEALTH_SWEEP_SECONDS", 120, minimum=1)


def _sweep(task: str) -> dict:
    """A sweeper's entry: every SWEEP_SECONDS, expiring after 1.5x that."""
    return {
        "task": task,
        "schedule": dt.timedelta(seconds=SWEEP_SECONDS),
        "options": {"expires": SWEEP_SECONDS * 1.5},
    }


# Every entry carries an expiry of about 1.5x its cadence: a backlog is dropped, not replayed.
app.conf.beat_schedule = {
    # Re-enqueue runs stuck in received/parsing: a lost message or a killed worker loses nothing.
    "ingest-sweep-stuck-runs": _sweep("ingest.sweep_stuck_runs"),
    # Recompute service-weeks left stale by a lost message or a killed worker.
    "reports-sweep-stale-service-weeks": _sweep("reports.recompute_sweep_stale"),
    # Re-enqueue alert batches whose message was lost; fail deliveries whose sender died mid-send.
    "reports-alert-sweep": _sweep("reports.alert_sweep"),
    # Regenerate weekly reports left stale by a lost message or a killed worker.
    "reports-sweep-stale-reports": _sweep("reports.report_sweep_stale"),
    # Last week's Markdown and PDF reports of every project, Mondays 06:00 UTC (idempotent: a
    # second run finds them made).
    "reports-weekly-reports": {
        "task": "reports.report_weekly",
        "schedule": crontab(minute=0, hour=6, day_of_week=1),
        "options": {"expires": 6 * 3600},
    },
    # Create the next weekly partitions of the results table ahead of time (PostgreSQL only).
    "ingest-ensure-partitions": {
        "task": "ingest.ensure_partitions",
        "schedule": crontab(minute=17, hour="*/6"),
        "options": {"expires": 6 * 3600 * 1.5},
    },
}
app.conf.task_routes = {
    "ingest.*": {"queue": "ingest"},
    "reports.recompute*": {"queue": "metrics"},
    "reports.report*": {"queue": "reports"},
    "reports.alert*": {"queue": "email"},
}
