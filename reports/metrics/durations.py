"""Duration percentiles (DESIGN.md "duration").

- Per test-week: p50 and p95 of the durations of *passed first attempts* (failures and timeouts
  distort timing), continuous percentiles (numpy "linear", PostgreSQL percentile_cont). p50 is
  published only with n >= p50_min_n, p95 only with n >= p95_min_n; otherwise None.
- Per service-week, over per-test medians: p50/p95 of the published per-test p50s. A test whose
  p50 is not published does not enter, so every service number traces back to test-week rows.
  The same n thresholds apply to the number of tests (p50 needs p50_min_n tests, p95 p95_min_n).
- Per service-week, suite wall-clock: the records hold durations and execution order but no start
  or end times, so a timeline's wall-clock is the sum of its first-attempt durations (any outcome:
  a failing test takes time too; a missing duration counts as 0), and a run's wall-clock is the
  largest of its timelines'. Retries are not in TestRun, so this is a lower bound when a run
  retried. The service-week publishes p50/p95 over its runs with the same n thresholds (runs).
- Slowest tests: tests with a published p50, by p50 descending (ties: p95, then test id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .data import PASSED, TestRun
from .params import MetricParams


def percentile(values: Sequence[float], q: float) -> float:
    """Continuous percentile (numpy "linear", same as percentile_cont) for q in [0, 100]."""
    if not len(values):
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=float), q, method="linear"))


def _published(values: Sequence[float], params: MetricParams) -> tuple[float | None, float | None]:
    n = len(values)
    p50 = percentile(values, 50) if n >= params.p50_min_n and n else None
    p95 = percentile(values, 95) if n >= params.p95_min_n and n else None
    return p50, p95


@dataclass(frozen=True, slots=True)
class TestDurations:
    __test__ = False

    test: int
    n: int  # passed first attempts with a duration
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float
    total_ms: float  # time the test's passed first attempts took, summed


def passed_durations(test_runs: Iterable[TestRun]) -> dict[int, list[float]]:
    """Per test, durations of passed first attempts that carry one."""
    out: dict[int, list[float]] = {}
    for tr in test_runs:
        if tr.first == PASSED and tr.first_duration_ms is not None:
            out.setdefault(tr.test, []).append(float(tr.first_duration_ms))
    return out


def durations_by_test(
    test_runs: Iterable[TestRun], params: MetricParams
) -> dict[int, TestDurations]:
    """Duration percentiles per test over the given (one week's) test-runs.

    Tests without a passed, timed first attempt are left out.
    """
    out = {}
    for test, values in sorted(passed_durations(test_runs).items()):
        p50, p95 = _published(values, params)
        out[test] = TestDurations(
            test=test,
            n=len(values),
            p50_ms=p50,
            p95_ms=p95,
            max_ms=max(values),
            total_ms=float(sum(values)),
        )
    return out


def run_wall_clock(test_runs: Iterable[TestRun]) -> dict[int, float]:
    """Per run: the largest over timelines of the summed first-attempt durations.

    Runs where no test-run carries a duration are left out (unknown is not 0 ms).
    """
    per_timeline: dict[tuple[int, str], float] = {}
    timed_runs: set[int] = set()
    for tr in test_runs:
        key = (tr.run, tr.timeline)
        per_timeline[key] = per_timeline.get(key, 0.0) + float(tr.first_duration_ms or 0)
        if tr.first_duration_ms is not None:
            timed_runs.add(tr.run)
    out: dict[int, float] = {}
    for (run, _), total in per_timeline.items():
        if run in timed_runs:
            out[run] = max(out.get(run, 0.0), total)
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class ServiceDurations:
    n_tests: int  # tests with a published p50 (the values behind the two next fields)
    test_median_p50_ms: float | None
    test_median_p95_ms: float | None
    n_runs: int  # runs with a wall-clock
    wall_clock_p50_ms: float | None
    wall_clock_p95_ms: float | None
    wall_clocks: dict[int, float]  # run id -> its wall clock: the values behind the two above


def service_week_durations(
    test_runs: Iterable[TestRun],
    params: MetricParams,
    tests: Mapping[int, TestDurations] | None = None,
) -> ServiceDurations:
    """Service-week duration percentiles; pass `tests` when durations_by_test already ran."""
    trs = list(test_runs)
    if tests is None:
        tests = durations_by_test(trs, params)
    medians = [d.p50_ms for d in tests.values() if d.p50_ms is not None]
    by_run = run_wall_clock(trs)
    walls = list(by_run.values())
    m50, m95 = _published(medians, params)
    w50, w95 = _published(walls, params)
    return ServiceDurations(
        n_tests=len(medians),
        test_median_p50_ms=m50,
        test_median_p95_ms=m95,
        n_runs=len(walls),
        wall_clock_p50_ms=w50,
        wall_clock_p95_ms=w95,
        wall_clocks=by_run,
    )


def slowest_tests(tests: Mapping[int, TestDurations], limit: int = 10) -> list[TestDurations]:
    """The `limit` tests with the highest published p50."""
    ranked = [d for d in tests.values() if d.p50_ms is not None]
    ranked.sort(key=lambda d: (-(d.p50_ms or 0.0), -(d.p95_ms or 0.0), d.test))
    return ranked[:limit]
