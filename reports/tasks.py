"""Celery tasks of reports: thin wrappers taking ids."""

from __future__ import annotations

import datetime as dt
import logging

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from reports.alerts import TransientDeliveryError

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


# --- Alerts (queue `email` by the reports.alert* route) -----------------------------------------


@shared_task(
    bind=True,
    name="reports.alert_send",
    ignore_result=True,
    # TransientDeliveryError: the claim was released, the next attempt picks the batch up again.
    autoretry_for=(TransientDeliveryError, OperationalError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=5,
)
def alert_send(self: Task[[str], None], batch: str) -> None:
    """Send one batch of alert deliveries as one message (reports.alerts.alert_batch_send).
    At most once per delivery: each row is claimed (pending -> sending) before sending, so a
    second run sends nothing. Transient SMTP/HTTP errors retry with backoff, 5 times at most;
    the last one is recorded on the deliveries as a failure."""
    from reports.alerts import alert_batch_send

    # max_retries None would mean retrying forever: no attempt would be the last.
    final = self.max_retries is not None and self.request.retries >= self.max_retries
    alert_batch_send(batch=batch, final_attempt=final)


@shared_task(name="reports.alert_sweep", ignore_result=True)
def alert_sweep() -> None:
    """Re-enqueue alert batches whose message was lost; fail deliveries whose sender died
    mid-send (safe to run twice: sending claims rows, the failing update is conditional)."""
    from django.conf import settings

    from reports.alerts import alert_deliveries_sweep

    alert_deliveries_sweep(older_than_seconds=settings.SUITEHEALTH_STUCK_AFTER_SECONDS)


# --- Weekly reports (queue `reports` by the reports.report* route) ------------------------------


@shared_task(name="reports.report_weekly", ignore_result=True)
def report_weekly(week: str | None = None) -> None:
    """Monday 06:00 UTC (beat): the previous week's reports (or `week`'s, a Monday's ISO date)
    of every project, once each."""
    from reports.report_services import weekly_reports_generate

    made = weekly_reports_generate(week=dt.date.fromisoformat(week) if week else None)
    log.info("weekly reports: %s generated", made)


@shared_task(name="reports.report_generate", ignore_result=True)
def report_generate(project_id: int, week: str, service_id: int | None = None) -> None:
    """Generate (again) a project's Markdown and PDF reports of one week (the Reports page)."""
    from ingest.models import Project, Service
    from reports.report_services import FORMATS
    from reports.report_services import report_generate as generate
    from reports.weekly import ReportNotFound

    project = Project.objects.filter(pk=project_id).first()
    service = Service.objects.filter(pk=service_id).first() if service_id else None
    if project is None:
        return
    for fmt in FORMATS:
        try:
            generate(project=project, week=dt.date.fromisoformat(week), fmt=fmt, service=service)
        except ReportNotFound as exc:
            log.info("no report of %s for %s: %s", project.slug, week, exc)
            return


@shared_task(name="reports.report_regenerate", ignore_result=True)
def report_regenerate(project_id: int, week: str) -> None:
    """Regenerate the week's reports that late data made stale."""
    from reports.report_services import reports_regenerate_stale

    reports_regenerate_stale(project_id=project_id, week=dt.date.fromisoformat(week))


@shared_task(name="reports.report_sweep_stale", ignore_result=True)
def report_sweep_stale() -> None:
    """Re-enqueue regenerations of stale reports whose message was lost (safe to run twice)."""
    from django.conf import settings

    from reports.report_services import reports_sweep_stale

    reports_sweep_stale(older_than_seconds=settings.SUITEHEALTH_STUCK_AFTER_SECONDS)
