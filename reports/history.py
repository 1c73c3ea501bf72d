"""Loading a service's history from ingest's tables into the metric code's plain records.

A run's results are read once: the first recompute whose window holds the run derives its
test-runs per service (attempts collapsed, execution order resolved) and stores them as RunFacts.
Every later recompute reads those few rows per run instead of the run's results, so a recompute
reads one row per run of its windows (a few weeks), never the project's whole history, and
re-derives nothing an earlier upload already paid for. Only a test whose regression episode may
have begun before the window is read further back, to where it began
(services._regression_history).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from ingest.models import Run
from reports.metrics.cascades import outage_runs
from reports.metrics.changepoints import CommitPoint, median_sorted
from reports.metrics.columns import Columns, TestRuns
from reports.metrics.data import PASSED, Execution, RunMeta, TestRun, group_test_runs
from reports.metrics.params import MetricParams
from reports.models import RunFacts
from reports.staleness import run_facts_lock


@dataclass(frozen=True, slots=True)
class RunDigest:
    """One RunFacts row decoded, with what recomputes read of it again and again."""

    token: uuid.UUID  # the RunFacts row's: a row derived again has another
    test_runs: list[TestRun]  # the run's execution order
    columns: Columns  # of test_runs: a window's are these concatenated
    tests: frozenset[int]
    # (test, duration) of every passed first attempt with a duration: the duration series' input
    passed_durations: tuple[tuple[int, float], ...]
    # is the run an infra outage, per (outage_share, cascade_min_length): a verdict on the run alone
    outage: dict[tuple[float, int], bool] = field(default_factory=dict)


@dataclass
class ServiceHistory:
    runs: dict[int, RunMeta]
    test_runs: list[TestRun]  # by run id, then the run's execution order
    digests: dict[int, RunDigest]  # by run id

    def test_runs_of(self, run_ids: Iterable[int]) -> TestRuns:
        """The test-runs of these runs, in the order of `test_runs`, with their columns."""
        digests = [self.digests[rid] for rid in sorted(run_ids)]
        return TestRuns(
            [tr for digest in digests for tr in digest.test_runs],
            Columns.concat([digest.columns for digest in digests]),
        )

    def outage_runs(self, run_ids: Iterable[int], params: MetricParams) -> frozenset[int]:
        """cascades.outage_runs over these runs' test-runs, judged once per run."""
        key = (params.outage_share, params.cascade_min_length)
        down = []
        for rid in run_ids:
            digest = self.digests[rid]
            verdict = digest.outage.get(key)
            if verdict is None:
                verdict = digest.outage[key] = bool(outage_runs(digest.test_runs, params=params))
            if verdict:
                down.append(rid)
        return frozenset(down)

    def tests_of(self, run_ids: Iterable[int]) -> set[int]:
        return set().union(*(self.digests[rid].tests for rid in run_ids))

    def commit_points(
        self, run_ids: Iterable[int], *, reference_branch: str
    ) -> dict[int, list[CommitPoint]]:
        """changepoints.commit_points of these runs' test-runs, built per commit from the runs'
        digests and kept per (commit, runs): a new run rebuilds only its commit's points."""
        by_commit: dict[str, list[RunMeta]] = {}
        for rid in run_ids:
            run = self.runs[rid]
            if run.branch == reference_branch:
                by_commit.setdefault(run.commit, []).append(run)
        commits = []
        for commit, runs in by_commit.items():
            runs.sort(key=lambda r: r.id)
            key = (commit, tuple(self.digests[r.id].token for r in runs))
            points = _COMMIT_POINTS.get(key)
            if points is None:
                points = _commit_points(commit, runs, [self.digests[r.id] for r in runs])
                _COMMIT_POINTS[key] = points
            _COMMIT_POINTS.move_to_end(key)
            commits.append((min(r.started_at for r in runs), commit, points))
        while len(_COMMIT_POINTS) > COMMIT_POINTS_MAX:
            _COMMIT_POINTS.popitem(last=False)
        out: dict[int, list[CommitPoint]] = {}
        for _time, _commit, points in sorted(commits, key=lambda c: (c[0], c[1])):
            for test, point in points.items():
                series = out.get(test)
                if series is None:
                    out[test] = [point]
                else:
                    series.append(point)
        return out


def _commit_points(
    commit: str, runs: Sequence[RunMeta], digests: Sequence[RunDigest]
) -> dict[int, CommitPoint]:
    time = min(r.started_at for r in runs)
    durations: dict[int, list[float]] = {}
    for digest in digests:
        for test, duration in digest.passed_durations:
            if test in durations:
                durations[test].append(duration)
            else:
                durations[test] = [duration]
    return {
        test: CommitPoint(commit, time, *median_sorted(values))
        for test, values in durations.items()
    }


def _digest(token: uuid.UUID, run_id: int, data: dict[str, list[Any]]) -> RunDigest:
    test_runs = decode_test_runs(run_id, data)
    return RunDigest(
        token=token,
        test_runs=test_runs,
        columns=Columns.of(test_runs),
        tests=frozenset(tr.test for tr in test_runs),
        passed_durations=tuple(
            (tr.test, float(tr.first_duration_ms))
            for tr in test_runs
            if tr.first == PASSED and tr.first_duration_ms is not None
        ),
    )


def encode_test_runs(test_runs: Sequence[TestRun]) -> dict[str, Sequence[object]]:
    """One list per field (the run is the row's): compact JSON, decoded without per-key work."""
    timelines = sorted({tr.timeline for tr in test_runs})
    index = {name: i for i, name in enumerate(timelines)}
    return {
        "test": [tr.test for tr in test_runs],
        "first": [tr.first for tr in test_runs],
        "final": [tr.final for tr in test_runs],
        "attempts": [tr.attempts for tr in test_runs],
        "passed_on_retry": [int(tr.passed_on_retry) for tr in test_runs],
        "first_duration_ms": [tr.first_duration_ms for tr in test_runs],
        "timelines": timelines,
        "timeline": [index[tr.timeline] for tr in test_runs],
        "order": [tr.order for tr in test_runs],
    }


def decode_test_runs(run_id: int, data: dict[str, list[Any]]) -> list[TestRun]:
    names = data["timelines"]
    return list(
        map(
            TestRun,
            repeat(run_id),
            data["test"],
            data["first"],
            data["final"],
            data["attempts"],
            map(bool, data["passed_on_retry"]),
            data["first_duration_ms"],
            [names[i] for i in data["timeline"]],
            data["order"],
        )
    )


def run_executions(
    run_ids: Sequence[int], *, start: dt.date, end: dt.date
) -> dict[tuple[int, int], list[Execution]]:
    """Executions of the given runs (run_week in [start, end]) per (run, service).

    Execution order within (run, service, timeline): per-test start time where the file gave one,
    else document order (DESIGN.md "Timeline").
    """
    # Sorted by the database (no timestamps to convert in Python): per (run, service, timeline),
    # start time where known, then document order.
    sql = """
        SELECT r.run_id, t.service_id, r.test_id, r.attempt, r.outcome, r.duration_ms, r.timeline
        FROM ingest_result r
        JOIN ingest_test t ON t.id = r.test_id
        WHERE r.run_id IN ({}) AND r.run_week >= %s AND r.run_week <= %s
        ORDER BY r.run_id, t.service_id, r.timeline, r.started_at NULLS LAST, r.position
    """
    rows: list[tuple[int, int, int, int, int, int | None, str]] = []
    ids = sorted(run_ids)
    with connection.cursor() as cur:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            cur.execute(sql.format(", ".join(["%s"] * len(chunk))), [*chunk, start, end])
            rows.extend(cur.fetchall())
    out: dict[tuple[int, int], list[Execution]] = {}
    order = 0
    previous: tuple[int, int, str] | None = None
    for run_id, service_id, test_id, attempt, outcome, duration, timeline in rows:
        if (run_id, service_id, timeline) != previous:
            previous = (run_id, service_id, timeline)
            order = 0
        out.setdefault((run_id, service_id), []).append(
            Execution(run_id, test_id, attempt, outcome, duration, timeline, order)
        )
        order += 1
    return out


def run_facts_derive(*, project_id: int, start: dt.date, end: dt.date) -> int:
    """Store the RunFacts of the project's parsed runs of weeks [start, end] that have none yet.
    Safe to run concurrently (a row another recompute stored first is kept). Returns the runs
    derived."""
    with transaction.atomic():
        run_facts_lock(project_id, shared=True)
        return _run_facts_derive(project_id, start, end)


def _run_facts_derive(project_id: int, start: dt.date, end: dt.date) -> int:
    missing = dict(
        Run.objects.filter(
            project_id=project_id, week__gte=start, week__lte=end, status=Run.Status.PARSED
        )
        .exclude(Exists(RunFacts.objects.filter(run_id=OuterRef("pk"))))
        .order_by()  # by week (run_project_week), not by the runs list's order
        .values_list("pk", "week")
    )
    if not missing:
        return 0
    rows = [
        RunFacts(
            run_id=run_id,
            service_id=service_id,
            project_id=project_id,
            week=missing[run_id],
            data=encode_test_runs(group_test_runs(executions)),
        )  # fmt: skip
        for (run_id, service_id), executions in run_executions(
            sorted(missing), start=min(missing.values()), end=max(missing.values())
        ).items()
    ]
    RunFacts.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(missing)


# Decoded RunFacts by row token, most recently used last. A row never changes (facts are dropped
# and derived again as new rows, with a new token: ids may be reused), so a worker keeps what it
# decoded for the next recompute of the service: about 100 runs per service-window, ~24 KB each at
# 100 tests (4 KB of it the columns).
_DECODED: OrderedDict[uuid.UUID, RunDigest] = OrderedDict()
DECODED_MAX_ROWS = 4000
# Commit points per (commit, its runs' RunFacts tokens): the same runs give the same points.
_COMMIT_POINTS: OrderedDict[tuple[str, tuple[uuid.UUID, ...]], dict[int, CommitPoint]] = (
    OrderedDict()
)
COMMIT_POINTS_MAX = 4000


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def forget_decoded() -> None:
    """Empty this process's memo of decoded RunFacts (benchmarks of a cold worker use it)."""
    _DECODED.clear()
    _COMMIT_POINTS.clear()


def service_history(
    *, project_id: int, service_id: int, start: dt.date, end: dt.date, branch: str | None = None
) -> ServiceHistory:
    """Runs and test-runs of the service's tests with run week in [start, end] (Mondays), of
    the runs on `branch` only when given."""
    run_facts_derive(project_id=project_id, start=start, end=end)
    facts = RunFacts.objects.filter(
        service_id=service_id, week__gte=start, week__lte=end, run__status=Run.Status.PARSED
    )
    if branch is not None:
        facts = facts.filter(run__branch=branch)
    picked = facts.order_by("run_id").values_list(
        "token", "run_id", "run__commit", "run__branch", "run__started_at"
    )
    rows = [
        (_uuid(token), run_id, commit, run_branch, started_at)
        for token, run_id, commit, run_branch, started_at in picked
    ]
    unknown = [token for token, *_ in rows if token not in _DECODED]
    for token, run_id, data in RunFacts.objects.filter(token__in=unknown).values_list(
        "token", "run_id", "data"
    ):
        _DECODED[token] = _digest(token, run_id, data)
    runs: dict[int, RunMeta] = {}
    digests: dict[int, RunDigest] = {}
    test_runs: list[TestRun] = []
    for token, run_id, commit, run_branch, started_at in rows:
        runs[run_id] = RunMeta(run_id, commit, run_branch, started_at)
        digests[run_id] = digest = _DECODED[token]
        test_runs.extend(digest.test_runs)
        _DECODED.move_to_end(token)
    while len(_DECODED) > DECODED_MAX_ROWS:
        _DECODED.popitem(last=False)
    return ServiceHistory(runs=runs, test_runs=test_runs, digests=digests)
