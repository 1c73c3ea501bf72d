"""Reactions to ingest's signals (sent after ingest's work is committed)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.dispatch import receiver

from ingest.signals import run_parsed


@receiver(run_parsed, dispatch_uid="reports.run_parsed")
def mark_touched_service_weeks(
    sender, *, run_id: int, project_id: int, week: dt.date, service_ids: list[int], **kwargs
) -> None:  # type: ignore[no-untyped-def]
    from reports.services import service_weeks_mark

    with transaction.atomic():
        service_weeks_mark(project_id=project_id, service_ids=service_ids, week=week)
