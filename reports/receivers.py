"""Reactions to ingest's signals (sent after ingest's work is committed)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.dispatch import receiver

from ingest.signals import run_deleted, run_parsed, tests_remapped

if TYPE_CHECKING:
    from ingest.models import Run, Test


@receiver(run_parsed, dispatch_uid="reports.run_parsed")
@receiver(run_deleted, dispatch_uid="reports.run_deleted")
def mark_touched_service_weeks(
    sender: type[Run],
    *,
    run_id: int,
    project_id: int,
    week: dt.date,
    service_ids: list[int],
    commit: str | None = None,
    started_at: dt.datetime | None = None,
    **kwargs: object,
) -> None:
    from reports.models import ServiceWeek
    from reports.staleness import service_weeks_mark

    with transaction.atomic():
        service_weeks_mark(project_id=project_id, service_ids=service_ids, week=week)
        # A run's pass is evidence that a failure of its commit in an earlier week within
        # same_commit_days was flaky (the failure's week reads passes after it): those weeks
        # change too.
        for earlier in _earlier_weeks_of_commit(project_id, week, commit, started_at):
            # Only service-weeks that exist: a service this run holds may not have run then.
            computed = list(
                ServiceWeek.objects.filter(service_id__in=service_ids, week=earlier)
                .values_list("service_id", flat=True)
            )  # fmt: skip
            if computed:
                service_weeks_mark(project_id=project_id, service_ids=computed, week=earlier)


def _earlier_weeks_of_commit(
    project_id: int, week: dt.date, commit: str | None, started_at: dt.datetime | None
) -> list[dt.date]:
    if not commit or started_at is None:
        return []
    from ingest.models import Run
    from reports.metrics.params import PARAM_BOUNDS, MetricParams
    from reports.models import ProjectSettings

    # Most uploads are of a commit no earlier week ran: one query, and the settings unread.
    earlier = list(
        Run.objects.filter(
            project_id=project_id, commit=commit, status=Run.Status.PARSED, week__lt=week,
            started_at__gte=started_at - dt.timedelta(days=PARAM_BOUNDS["same_commit_days"][1]),
        ).values_list("week", "started_at")
    )  # fmt: skip
    if not earlier:
        return []
    # Not reports.services.project_params: that module loads the metrics code (numpy, scipy),
    # which a worker that only parses never needs.
    overrides = ProjectSettings.objects.filter(project_id=project_id).values_list(
        "params", flat=True
    ).first()  # fmt: skip
    reach = dt.timedelta(days=MetricParams.from_dict(overrides or {}).same_commit_days)
    return sorted({w for w, at in earlier if at >= started_at - reach})


@receiver(tests_remapped, dispatch_uid="reports.tests_remapped")
def mark_remapped_service_weeks(
    sender: type[Test],
    *,
    project_id: int,
    service_ids: list[int],
    weeks: list[dt.date],
    **kwargs: object,
) -> None:
    """Tests moved between services with their whole history: every listed service is stale in
    every listed week."""
    from reports.staleness import run_facts_forget, service_weeks_mark

    with transaction.atomic():
        # Run facts are grouped by service: those of these weeks are derived again.
        run_facts_forget(project_id=project_id, weeks=weeks)
        for week in sorted(set(weeks)):
            service_weeks_mark(project_id=project_id, service_ids=service_ids, week=week)
