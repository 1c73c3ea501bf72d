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
from django.db.models import F, Q
from django.utils import timezone

from ingest.models import Run
from ingest.queueing import enqueue_on_commit
from ingest.weeks import week_end, week_start
from reports.models import Finding, RunFacts, ServiceWeek

# A week's data feeds the windows of the weeks after it (28 days of order data, 14+7 of flaky
# evidence...): late data for week W also makes these later weeks stale.
FOLLOWING_WEEKS = 6


def service_weeks_mark(
    *, project_id: int, service_ids: Iterable[int], week: dt.date
) -> list[tuple[int, dt.date]]:
    """Mark (service, week), the existing following weeks, the weeks whose recompute last
    wrote a regression or fix of an episode that began by then (see _episodes_reaching) and the
    service's weeks computed while in progress that have ended since (ended_in_progress) stale,
    and enqueue their recompute after commit. Marking is a counter increment, so it is never
    lost to a running recompute."""
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
        later_weeks = (
            set(
                ServiceWeek.objects.filter(
                    service_id=service_id, week__gt=week, week__lte=until
                ).values_list("week", flat=True)
            )
            | _episodes_reaching(service_id, week)
            | set(
                ServiceWeek.objects.filter(
                    ended_in_progress(now), service_id=service_id
                ).values_list("week", flat=True)
            )
        ) - {week}
        ServiceWeek.objects.filter(service_id=service_id, week__in=later_weeks).update(
            dirty=F("dirty") + 1, marked_at=now
        )
        marked.extend((service_id, w) for w in sorted(later_weeks))
    delay = settings.SUITEHEALTH_RECOMPUTE_DELAY_SECONDS
    for service_id, w in marked:
        # Delayed so a burst of uploads (a CI pipeline's jobs) collapses into one recompute:
        # the first task to run covers every mark made before it, the others find nothing to do.
        enqueue_on_commit(
            recompute_service_week, service_id, w.isoformat(), countdown=delay,
            swept_by="reports.recompute_sweep_stale",
        )  # fmt: skip
    return marked


def ended_in_progress(now: dt.datetime) -> Q:
    """The service-weeks computed while their week was in progress, whose week has ended since:
    what they say is as of that computation, not of the week's end (reports.services._compute)."""
    return Q(in_progress=True, week__lt=week_start(now))


def _episodes_reaching(service_id: int, week: dt.date) -> set[dt.date]:
    """Give the service's regression and fixed findings of episodes that began by the end of
    `week` but were last written by a later window back to the windows that hold `week`, and
    return the weeks whose recompute last wrote them.

    An episode finding is written only by a window ending no earlier than the one that last
    wrote it (reports.services._write_findings), and a fix's window reads back to where its
    episode began: a run of `week` uploaded late can change an episode that windows long after
    it wrote. Those windows are marked; lowering `as_of` to the end of `week` lets the windows
    that hold `week` rewrite what they see of it too (an episode the late run ended early)."""
    end = week_end(week)
    episodes = Finding.objects.filter(
        service_id=service_id,
        kind__in=(Finding.Kind.REGRESSION, Finding.Kind.FIXED),
        as_of__gt=end,
    )
    found = dict(episodes.values_list("pk", "evidence__first_failing_run"))
    began = set(
        Run.objects.filter(pk__in={r for r in found.values() if r}, started_at__lt=end).values_list(
            "pk", flat=True
        )
    )
    reaching = episodes.filter(pk__in=[pk for pk, run in found.items() if run in began])
    written = reaching.values_list("as_of", flat=True)
    # a window's as_of is its week's end, or within its week while the week was in progress
    writers = {week_start(as_of - dt.timedelta(microseconds=1)) for as_of in written}
    reaching.update(as_of=end)
    return writers


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
