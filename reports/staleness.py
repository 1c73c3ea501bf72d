"""What makes service-weeks stale: marking them after ingest's changes (a run parsed or deleted,
tests moved between services), and forgetting the run facts that a move outdates.

Kept apart from reports.services, which imports the metrics code (numpy, scipy): the ingest
worker marks service-weeks after every parse and should not carry the metrics in memory to do it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from reports.models import RunFacts, ServiceWeek

# A week's data feeds the windows of the weeks after it (28 days of order data, 14+7 of flaky
# evidence...): late data for week W also makes these later weeks stale.
FOLLOWING_WEEKS = 6


def service_weeks_mark(
    *, project_id: int, service_ids: Iterable[int], week: dt.date
) -> list[tuple[int, dt.date]]:
    """Mark (service, week) and the existing following weeks stale, and enqueue their recompute
    after commit. Marking is a counter increment, so it is never lost to a running recompute."""
    from reports.tasks import recompute_service_week

    marked: list[tuple[int, dt.date]] = []
    now = timezone.now()
    until = week + dt.timedelta(weeks=FOLLOWING_WEEKS)
    for service_id in sorted(set(service_ids)):
        row, created = ServiceWeek.objects.get_or_create(
            service_id=service_id, week=week, defaults={"project_id": project_id, "marked_at": now}
        )
        if not created:
            ServiceWeek.objects.filter(pk=row.pk).update(dirty=F("dirty") + 1, marked_at=now)
        marked.append((service_id, week))
        later = ServiceWeek.objects.filter(service_id=service_id, week__gt=week, week__lte=until)
        later_weeks = list(later.values_list("week", flat=True))
        later.update(dirty=F("dirty") + 1, marked_at=now)
        marked.extend((service_id, w) for w in later_weeks)
    delay = settings.SUITEHEALTH_RECOMPUTE_DELAY_SECONDS
    for service_id, w in marked:
        # Delayed so a burst of uploads (a CI pipeline's jobs) collapses into one recompute:
        # the first task to run covers every mark made before it, the others find nothing to do.
        transaction.on_commit(
            lambda s=service_id, w=w: recompute_service_week.apply_async(
                (s, w.isoformat()), countdown=delay
            )
        )
    return marked


# Namespace of run_facts_lock's advisory locks (the two-key form: no overlap with one-key locks).
_FACTS_LOCKS = 0x5F4AC7


def run_facts_lock(project_id: int, *, shared: bool) -> None:
    """Until the transaction ends: deriving a project's RunFacts (shared) excludes forgetting
    them after tests moved (exclusive). Facts are grouped by service as the tests' mapping read
    when they were derived, so without it a derive that read the old mapping could store its
    rows after the forget and keep them for good. A recompute takes it shared before any of its
    other locks (see reports.services.service_week_recompute), so the two cannot deadlock."""
    if connection.vendor != "postgresql":
        return  # SQLite runs one writer at a time
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cur:
        cur.execute(f"SELECT {function}(%s, %s)", [_FACTS_LOCKS, project_id & 0x7FFF_FFFF])


def run_facts_forget(*, project_id: int, weeks: Iterable[dt.date]) -> int:
    """Drop the RunFacts of the project's runs in these weeks (tests changed service: the facts
    are grouped by service). The next recompute derives them again. Waits for derives in
    progress (run_facts_lock), so none stores facts of the old mapping after this."""
    with transaction.atomic():
        run_facts_lock(project_id, shared=False)
        deleted, _ = RunFacts.objects.filter(project_id=project_id, week__in=list(weeks)).delete()
    return deleted
