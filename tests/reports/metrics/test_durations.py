"""Duration percentiles on hand-made test-runs."""

from __future__ import annotations

import pytest

from reports.metrics.data import FAILED, PASSED, SKIPPED, TestRun
from reports.metrics.durations import (
    durations_by_test,
    percentile,
    run_wall_clock,
    service_week_durations,
    slowest_tests,
)
from reports.metrics.params import MetricParams

PARAMS = MetricParams()


def tr(
    run: int,
    test: int,
    ms: int | None,
    outcome: int = PASSED,
    timeline: str = "w0",
    first: int | None = None,
) -> TestRun:
    first_outcome = outcome if first is None else first
    return TestRun(run, test, first_outcome, outcome, 1, False, ms, timeline, 0)


def test_percentiles_are_continuous() -> None:
    # Linear interpolation between order statistics, like percentile_cont.
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([7], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_it_publishes_p50_from_5_and_p95_from_20_passed_first_attempts() -> None:
    runs = []
    runs += [tr(r, 1, 10 * (r + 1)) for r in range(4)]  # 4: nothing published
    runs += [tr(r, 2, r + 1) for r in range(5)]  # 5: p50 only
    runs += [tr(r, 3, r + 1) for r in range(20)]  # 20: both
    stats = durations_by_test(runs, PARAMS)
    assert (stats[1].n, stats[1].p50_ms, stats[1].p95_ms) == (4, None, None)
    assert stats[1].max_ms == 40 and stats[1].total_ms == 100
    assert (stats[2].p50_ms, stats[2].p95_ms) == (3.0, None)
    # 1..20: p50 at rank 9.5 -> 10.5; p95 at rank 18.05 -> 19.05.
    assert stats[3].p50_ms == 10.5
    assert stats[3].p95_ms == pytest.approx(19.05)


def test_only_passed_first_attempts_with_a_duration_count() -> None:
    runs = [tr(r, 1, 100) for r in range(5)]
    runs += [
        tr(10, 1, 9000, outcome=FAILED),
        tr(11, 1, 9000, outcome=PASSED, first=FAILED),  # passed on retry: first attempt failed
        tr(12, 1, 0, outcome=SKIPPED),
        tr(13, 1, None),
    ]
    [only] = durations_by_test(runs, PARAMS).values()
    assert (only.n, only.p50_ms, only.max_ms) == (5, 100.0, 100.0)


def test_wall_clock_is_the_longest_timeline_of_a_run() -> None:
    runs = [
        tr(1, 1, 100, timeline="a"),
        tr(1, 2, 200, timeline="a", outcome=FAILED),  # failing tests take time too
        tr(1, 3, 250, timeline="b"),
        tr(1, 4, None, timeline="b"),  # unknown counts as 0
        tr(2, 1, 50, timeline="a"),
        tr(3, 1, None, timeline="a"),  # no duration at all: no wall-clock
    ]
    assert run_wall_clock(runs) == {1: 300.0, 2: 50.0}


def test_service_week_needs_enough_tests_and_runs() -> None:
    # Six tests with published medians 10..60, one test with too few runs.
    runs = [tr(r, t, 10 * t) for t in range(1, 7) for r in range(5)]
    runs += [tr(0, 7, 10_000)]
    service = service_week_durations(runs, PARAMS)
    assert service.n_tests == 6
    assert service.test_median_p50_ms == 35.0
    assert service.test_median_p95_ms is None  # 6 < 20 tests
    # Five runs of one timeline each: wall-clock 10+20+...+60 = 210 (run 0 also has test 7).
    assert service.n_runs == 5
    assert service.wall_clock_p50_ms == 210.0
    assert service.wall_clock_p95_ms is None


def test_slowest_tests_rank_by_published_p50() -> None:
    runs = [tr(r, 1, 100) for r in range(5)]
    runs += [tr(r, 2, 300) for r in range(5)]
    runs += [tr(r, 3, 100 + r) for r in range(5)]  # p50 102
    runs += [tr(r, 4, 9999) for r in range(4)]  # unpublished: not ranked
    stats = durations_by_test(runs, PARAMS)
    assert [d.test for d in slowest_tests(stats)] == [2, 3, 1]
    assert [d.test for d in slowest_tests(stats, limit=1)] == [2]
