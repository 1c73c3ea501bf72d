"""Loading a service's history from ingest's tables into the metric code's plain records.

Reads results by the (test_id, run_week) index, one partition range at a time: cost follows the
metric windows (a few weeks), never the project's whole history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from ingest.models import Run
from reports.metrics.data import Execution, RunMeta


@dataclass
class ServiceHistory:
    runs: dict[int, RunMeta]
    executions: list[Execution]


def service_history(*, service_id: int, start: dt.date, end: dt.date) -> ServiceHistory:
    """Runs and executions of the service's tests with run_week in [start, end] (Mondays).

    Execution order within (run, timeline): per-test start time where the file gave one, else
    document order (DESIGN.md "Timeline").
    """
    # Sorted by the database (no timestamps to convert in Python): per (run, timeline), start
    # time where known, then document order.
    sql = """
        SELECT r.run_id, r.test_id, r.attempt, r.outcome, r.duration_ms, r.timeline
        FROM ingest_result r
        JOIN ingest_test t ON t.id = r.test_id
        WHERE t.service_id = %s AND r.run_week >= %s AND r.run_week <= %s
        ORDER BY r.run_id, r.timeline, r.started_at NULLS LAST, r.position
    """
    with connection.cursor() as cur:
        cur.execute(sql, [service_id, start, end])
        rows = cur.fetchall()
    executions: list[Execution] = []
    order = 0
    previous: tuple[int, str] | None = None
    for run_id, test_id, attempt, outcome, duration, timeline in rows:
        if (run_id, timeline) != previous:
            previous = (run_id, timeline)
            order = 0
        executions.append(
            Execution(run_id, test_id, attempt, outcome, duration, timeline, order)
        )
        order += 1
    run_ids = {e.run for e in executions}
    runs = {
        rid: RunMeta(rid, commit, branch, started)
        for rid, commit, branch, started in Run.objects.filter(
            pk__in=run_ids, status=Run.Status.PARSED
        ).values_list("pk", "commit", "branch", "started_at")
    }
    # Results of a run that is not parsed cannot exist (loads are atomic), but a run may be
    # deleted between the two queries: keep executions consistent with the runs.
    if len(runs) != len(run_ids):
        executions = [e for e in executions if e.run in runs]
    return ServiceHistory(runs=runs, executions=executions)
