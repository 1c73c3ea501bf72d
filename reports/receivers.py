"""Reactions to ingest's signals (sent after ingest's work is committed)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.dispatch import receiver

from ingest.signals import run_deleted, run_parsed, tests_remapped


@receiver(run_parsed, dispatch_uid="reports.run_parsed")
@receiver(run_deleted, dispatch_uid="reports.run_deleted")
def mark_touched_service_weeks(
    sender, *, run_id: int, project_id: int, week: dt.date, service_ids: list[int], **kwargs
) -> None:  # type: ignore[no-untyped-def]
    from reports.staleness import service_weeks_mark

    with transaction.atomic():
        service_weeks_mark(project_id=project_id, service_ids=service_ids, week=week)


@receiver(tests_remapped, dispatch_uid="reports.tests_remapped")
def mark_remapped_service_weeks(
    sender, *, project_id: int, service_ids: list[int], weeks: list[dt.date], **kwargs
) -> None:  # type: ignore[no-untyped-def]
    """Tests moved between services with their whole history: every listed service is stale in
    every listed week."""
    from reports.staleness import run_facts_forget, service_weeks_mark

    with transaction.atomic():
        # Run facts are grouped by service: those of these weeks are derived again.
        run_facts_forget(project_id=project_id, weeks=weeks)
        for week in sorted(set(weeks)):
            service_weeks_mark(project_id=project_id, service_ids=service_ids, week=week)
