"""Celery tasks of reports: thin wrappers taking ids."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

log = logging.getLogger(__name__)


@shared_task(
    name="reports.recompute_service_week",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=5,
)
def recompute_service_week(service_id: int, week: str) -> None:
    """Recompute one service-week (idempotent; serialized per service-week by a lock)."""
    from reports.services import service_week_recompute

    if not service_week_recompute(service_id=service_id, week=dt.date.fromisoformat(week)):
        log.info("service %s is gone; nothing to recompute", service_id)


@shared_task(name="reports.recompute_sweep_stale", ignore_result=True)
def sweep_stale_service_weeks() -> None:
    """Re-enqueue service-weeks left stale (safe to run twice: recomputes are idempotent)."""
    from django.conf import settings

    from reports.services import service_weeks_sweep_stale

    service_weeks_sweep_stale(older_than_seconds=settings.SUITEHEALTH_STUCK_AFTER_SECONDS)
