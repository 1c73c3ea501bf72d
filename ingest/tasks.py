"""Celery tasks of the ingest app: thin wrappers that take ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ingest.dberrors import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


@shared_task(
    name="ingest.parse_run",
    ignore_result=True,
    # Only database trouble is transient; bad data marks the run failed inside the service.
    autoretry_for=TRANSIENT_DB_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
)
def parse_run(run_id: int) -> None:
    """Parse one uploaded run (idempotent: see ingest.services.run_parse)."""
    from ingest.services import run_parse

    run_parse(run_id=run_id)


@shared_task(name="ingest.sweep_stuck_runs", ignore_result=True)
def sweep_stuck_runs() -> None:
    """Re-enqueue runs stuck in received/parsing (safe to run twice: parse_run is idempotent)."""
    from ingest.services import runs_sweep_stuck

    runs_sweep_stuck()


@shared_task(name="ingest.ensure_partitions", ignore_result=True)
def ensure_partitions() -> None:
    """Create this week's and the next four weeks' result partitions (idempotent DDL)."""
    from django.utils import timezone

    from ingest.partitions import ensure_partitions_ahead

    created = ensure_partitions_ahead(timezone.now().date())
    if created:
        log.info("created result partitions for weeks %s", created)


@shared_task(
    name="ingest.remap_services",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
)
def remap_services(project_id: int) -> None:
    """Apply a project's current service rules to its tests (idempotent: see
    ingest.services.tests_remap; a retry after a crash redoes the whole remap)."""
    from ingest.services import tests_remap

    tests_remap(project_id=project_id)
