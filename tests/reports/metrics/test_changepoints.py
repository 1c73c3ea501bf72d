"""Duration change points on hand-made and seeded random commit series."""

from __future__ import annotations

import datetime as dt
import math
import time

import numpy as np

from reports.metrics.changepoints import (
    IMPROVEMENT,
    SLOWDOWN,
    CommitPoint,
    changes_by_test,
    commit_points,
    duration_changes,
    find_change_points,
    hodges_lehmann,
    service_duration_changes,
)
from reports.metrics.data import FAILED, PASSED, RunMeta, TestRun
from reports.metrics.params import MetricParams

PARAMS = MetricParams()
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def make_series(
    rng: np.random.Generator,
    n: int,
    base_ms: float,
    cv: float,
    *,
    change_at: int | None = None,
    ratio: float = 1.0,
    per_commit: int = 1,
) -> list[CommitPoint]:
    """Log-normal durations with coefficient of variation `cv`, mean base_ms (x ratio after)."""
    sigma = math.sqrt(math.log(1 + cv**2))
    means = np.full(n, float(base_ms))
    if change_at is not None:
        means[change_at:] *= ratio
    noise = np.exp(rng.normal(-(sigma**2) / 2, sigma, size=(n, per_commit)))
    durations = np.round(means[:, None] * noise)
    medians = np.median(durations, axis=1)
    return [
        CommitPoint(
            commit=f"c{i:04d}",
            time=T0 + dt.timedelta(hours=i),
            median_ms=float(medians[i]),
            durations_ms=tuple(durations[i].tolist()),
        )
        for i in range(n)
    ]


def flat_steps(levels: list[tuple[int, float]]) -> list[CommitPoint]:
    """Deterministic series: (count, ms) blocks with a +-1% zigzag so variances are not zero."""
    points = []
    for count, ms in levels:
        for _ in range(count):
            i = len(points)
            value = ms * (1.01 if i % 2 else 0.99)
            points.append(CommitPoint(f"c{i:04d}", T0 + dt.timedelta(hours=i), value, (value,)))
    return points


# --- the detector alone -------------------------------------------------------------------


def test_it_finds_a_clean_step_at_its_index() -> None:
    values = [0.0, 0.1] * 20 + [1.0, 1.1] * 20
    found = find_change_points(values, window=50, max_pvalue=0.001, min_points=5)
    assert [cp.index for cp in found] == [40]
    assert found[0].pvalue < 1e-6
    assert found[0].mean_after > found[0].mean_before


def test_it_finds_a_step_that_falls_near_a_window_edge() -> None:
    # Windows of 50 step by 25: a change at 72 sits three points before the end of [25, 75).
    values = [0.0, 0.1] * 36 + [1.0, 1.1] * 40
    found = find_change_points(values, window=50, max_pvalue=0.001, min_points=5)
    assert [cp.index for cp in found] == [72]


def test_it_finds_two_changes_in_one_series() -> None:
    values = [0.0, 0.1] * 30 + [1.0, 1.1] * 30 + [0.3, 0.4] * 30
    found = find_change_points(values, window=50, max_pvalue=0.001, min_points=5)
    assert [cp.index for cp in found] == [60, 120]


def test_it_finds_nothing_on_a_flat_series() -> None:
    assert find_change_points([5.0] * 100, window=50, max_pvalue=0.001, min_points=5) == []


def test_it_needs_min_points_on_each_side() -> None:
    # Nine points cannot hold five on each side of any split.
    values = [0.0, 0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    assert find_change_points(values, window=50, max_pvalue=0.001, min_points=5) == []
    # The same jump with only four points after it, in a longer series, is not placed either.
    values = [0.0, 0.1] * 20 + [10.0] * 4
    assert find_change_points(values, window=50, max_pvalue=0.001, min_points=5) == []


# --- acceptance --------------------------------------------------------------------------


def test_it_accepts_nothing_on_noisy_but_stable_durations() -> None:
    rng = np.random.default_rng(20260105)
    flagged = 0
    for _ in range(30):
        points = make_series(rng, 200, 200.0, 0.30)
        flagged += bool(duration_changes(points, PARAMS))
    assert flagged == 0


def test_it_finds_a_clean_slowdown_at_the_right_commit() -> None:
    rng = np.random.default_rng(7)
    points = make_series(rng, 200, 200.0, 0.10, change_at=100, ratio=1.5, per_commit=2)
    [change] = duration_changes(points, PARAMS)
    assert change.kind == SLOWDOWN
    assert abs(change.index - 100) <= 1
    assert change.commit == points[change.index].commit
    assert change.last_commit_before == points[change.index - 1].commit
    assert change.time == points[change.index].time
    assert 185 < change.before_median_ms < 215
    assert 280 < change.after_median_ms < 320
    assert 1.35 < change.ratio < 1.65
    # True shift is 100 ms; the interval must hold the estimate and be reasonably tight.
    assert change.shift_low_ms <= change.shift_ms <= change.shift_high_ms
    assert 80 < change.shift_low_ms and change.shift_high_ms < 120
    assert change.mwu_pvalue < PARAMS.cp_mwu_pvalue
    assert change.adjusted_pvalue < PARAMS.cp_pvalue
    assert change.n_before + change.n_after == 200
    assert change.n_before_durations == 2 * change.n_before
    evidence = change.evidence()
    assert evidence["commit"] == change.commit
    assert evidence["shift_ci95_ms"] == [change.shift_low_ms, change.shift_high_ms]


def test_it_records_a_speed_up_as_an_improvement() -> None:
    rng = np.random.default_rng(8)
    points = make_series(rng, 120, 800.0, 0.15, change_at=60, ratio=0.5)
    [change] = duration_changes(points, PARAMS)
    assert change.kind == IMPROVEMENT
    assert abs(change.index - 60) <= 1
    assert change.ratio < 0.6
    assert change.shift_ms < -300


def test_it_rejects_a_tiny_shift_that_the_detector_does_see() -> None:
    # 1000 ms -> 1050 ms with 1% noise: a real, significant change, but 5% is under the 10% floor.
    points = flat_steps([(60, 1000.0), (60, 1050.0)])
    seen = find_change_points(
        [math.log1p(p.median_ms) for p in points], window=50, max_pvalue=0.001, min_points=5
    )
    assert [cp.index for cp in seen] == [60]
    assert duration_changes(points, PARAMS) == []
    # The same data passes once the floor is lowered, so the ratio gate is what rejected it.
    lenient = MetricParams(cp_min_ratio=1.04)
    assert [c.index for c in duration_changes(points, lenient)] == [60]


def test_it_rejects_a_slowdown_below_the_absolute_floor() -> None:
    # 10 ms -> 12 ms is +20% but only 2 ms.
    points = flat_steps([(60, 10.0), (60, 12.0)])
    assert duration_changes(points, PARAMS) == []
    lenient = MetricParams(cp_min_shift_ms=1.0)
    assert [c.index for c in duration_changes(points, lenient)] == [60]


def test_it_accepts_nothing_with_too_few_points_a_side() -> None:
    assert duration_changes(flat_steps([(4, 100.0), (4, 400.0)]), PARAMS) == []
    assert duration_changes(flat_steps([(60, 100.0), (4, 400.0)]), PARAMS) == []
    assert duration_changes(flat_steps([(4, 400.0), (60, 100.0)]), PARAMS) == []
    # Five a side is enough for an unmistakable change.
    [change] = duration_changes(flat_steps([(5, 100.0), (5, 400.0)]), PARAMS)
    assert (change.index, change.n_before, change.n_after) == (5, 5, 5)


def test_the_raw_durations_must_confirm_the_change() -> None:
    # Ten commits at ~100 ms, then ten whose medians are ~300 ms, but one of those commits was
    # run 41 times and mostly fast: pooled, the executions after the split are not clearly slower.
    points = flat_steps([(10, 100.0), (10, 300.0)])
    busy = points[15]
    reruns = (300.0,) * 20 + (50.0,) * 21
    points[15] = CommitPoint(busy.commit, busy.time, 50.0, reruns)
    assert duration_changes(points, PARAMS) == []
    # Without the confirmation the medians alone would have made it a slowdown.
    unconfirmed = MetricParams(cp_mwu_pvalue=1.01)
    [change] = duration_changes(points, unconfirmed)
    assert (change.kind, change.index) == (SLOWDOWN, 10)
    assert change.mwu_pvalue > PARAMS.cp_mwu_pvalue


def test_it_ignores_a_single_outlier_commit() -> None:
    rng = np.random.default_rng(9)
    points = make_series(rng, 100, 300.0, 0.1)
    spike = points[50]
    points[50] = CommitPoint(spike.commit, spike.time, 3000.0, (3000.0,))
    assert duration_changes(points, PARAMS) == []


def test_it_reports_a_slowdown_and_a_later_fix_separately() -> None:
    points = flat_steps([(40, 100.0), (40, 200.0), (40, 100.0)])
    changes = duration_changes(points, PARAMS)
    assert [(c.kind, c.index) for c in changes] == [(SLOWDOWN, 40), (IMPROVEMENT, 80)]
    # Each is measured against its own neighbouring segments, not the whole history.
    assert changes[0].n_before == 40 and changes[0].n_after == 40
    assert changes[1].n_before == 40 and changes[1].n_after == 40


def test_it_is_deterministic_and_order_independent() -> None:
    rng = np.random.default_rng(10)
    points = make_series(rng, 150, 400.0, 0.2, change_at=90, ratio=1.4, per_commit=3)
    first = duration_changes(points, PARAMS)
    shuffled = list(points)
    np.random.default_rng(1).shuffle(shuffled)
    assert duration_changes(shuffled, PARAMS) == first
    assert duration_changes(points, PARAMS) == first
    assert len(first) == 1


def test_precision_and_recall_on_a_seeded_random_set() -> None:
    """Slowdowns of 1.3x-2x with CV 5-20%, 1-3 runs a commit, >= 20 commits each side.

    A detection counts as correct when it is a slowdown within one commit of the planted change;
    anything else (wrong place, wrong kind, a change in a stable series) is a false positive.
    """
    rng = np.random.default_rng(424242)
    true_pos = false_pos = false_neg = 0
    for case in range(200):
        n = int(rng.integers(80, 301))
        at = int(rng.integers(20, n - 19))
        ratio = float(rng.uniform(1.3, 2.0))
        cv = float(rng.uniform(0.05, 0.20))
        base = float(rng.uniform(100, 3000))
        per_commit = int(rng.integers(1, 4))
        planted = case % 2 == 0
        points = make_series(
            rng,
            n,
            base,
            cv,
            change_at=at if planted else None,
            ratio=ratio,
            per_commit=per_commit,
        )
        hit = False
        for change in duration_changes(points, PARAMS):
            if planted and not hit and change.kind == SLOWDOWN and abs(change.index - at) <= 1:
                true_pos += 1
                hit = True
            else:
                false_pos += 1
        false_neg += planted and not hit
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(f"change points: precision={precision:.3f} recall={recall:.3f} over 100+100 series")
    assert precision >= 0.95, (true_pos, false_pos)
    assert recall >= 0.95, (true_pos, false_neg)


def test_a_500_point_series_takes_well_under_50_ms() -> None:
    rng = np.random.default_rng(11)
    points = make_series(rng, 500, 300.0, 0.3, change_at=250, ratio=1.5)
    duration_changes(points, PARAMS)  # warm caches and imports
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        changes = duration_changes(points, PARAMS)
        best = min(best, time.perf_counter() - start)
    assert [c.kind for c in changes] == [SLOWDOWN]
    assert best < 0.05, f"{best * 1000:.1f} ms"


# --- Hodges-Lehmann ----------------------------------------------------------------------


def test_hodges_lehmann_is_the_median_of_pairwise_differences() -> None:
    shift, low, high = hodges_lehmann([1, 2, 3], [5, 6, 7])
    # Differences 2,3,3,4,4,4,5,5,6: median 4.
    assert shift == 4.0
    assert low <= 4.0 <= high
    assert hodges_lehmann([10, 20], [10, 20])[0] == 0.0


def test_hodges_lehmann_interval_matches_the_exact_rank_for_ten_a_side() -> None:
    # For m = n = 10 the exact two-sided 5% critical value of U is 23, so the interval runs from
    # the 24th to the 77th ordered difference.
    before = [float(i) for i in range(10)]
    after = [float(100 * i) for i in range(10)]
    diffs = sorted(a - b for a in after for b in before)
    _, low, high = hodges_lehmann(before, after)
    assert (low, high) == (diffs[23], diffs[76])


def test_hodges_lehmann_interval_covers_the_true_shift_about_95_percent() -> None:
    rng = np.random.default_rng(12)
    covered = 0
    trials = 400
    for _ in range(trials):
        before = rng.lognormal(5.0, 0.3, size=15)
        after = rng.lognormal(5.0, 0.3, size=12) + 40.0
        _, low, high = hodges_lehmann(before, after)
        covered += low <= 40.0 <= high
    assert 0.91 <= covered / trials <= 0.99


def test_hodges_lehmann_stays_bounded_on_large_samples() -> None:
    rng = np.random.default_rng(13)
    before = rng.normal(100, 5, size=5000)
    after = rng.normal(130, 5, size=5000)
    shift, low, high = hodges_lehmann(before, after)
    assert 29 < shift < 31 and low < shift < high and high - low < 1.5


# --- building series from runs -----------------------------------------------------------


def _run(i: int, commit: str, branch: str = "main", hour: int | None = None) -> RunMeta:
    return RunMeta(i, commit, branch, T0 + dt.timedelta(hours=i if hour is None else hour))


def _tr(run: int, test: int, outcome: int, ms: int | None) -> TestRun:
    return TestRun(run, test, outcome, outcome, 1, False, ms, "w0", 0)


def test_commit_points_use_passed_first_attempts_on_the_reference_branch() -> None:
    runs = [
        _run(1, "a", hour=5),
        _run(2, "a", hour=1),  # the earlier run of commit a dates it
        _run(3, "b", hour=3),
        _run(4, "b", branch="feature", hour=4),
    ]
    test_runs = [
        _tr(1, 7, PASSED, 100),
        _tr(2, 7, PASSED, 300),
        _tr(2, 8, PASSED, None),  # no duration: no point
        _tr(3, 7, FAILED, 900),  # failed: not a duration sample
        _tr(3, 9, PASSED, 40),
        _tr(4, 7, PASSED, 5000),  # other branch
    ]
    series = commit_points(runs, test_runs, reference_branch="main")
    assert set(series) == {7, 9}
    [a] = series[7]
    assert (a.commit, a.median_ms, a.durations_ms) == ("a", 200.0, (100.0, 300.0))
    assert a.time == T0 + dt.timedelta(hours=1)
    [b] = series[9]
    assert (b.commit, b.time) == ("b", T0 + dt.timedelta(hours=3))


def test_service_duration_changes_reports_only_tests_that_changed() -> None:
    runs = [_run(i, f"c{i:03d}") for i in range(60)]
    test_runs = []
    for i in range(60):
        test_runs.append(_tr(i, 1, PASSED, 100 + (i % 2)))  # steady
        test_runs.append(_tr(i, 2, PASSED, (100 if i < 30 else 250) + (i % 2)))  # slower at c030
    changes = service_duration_changes(runs, test_runs, PARAMS)
    assert list(changes) == [2]
    [change] = changes[2]
    assert (change.kind, change.commit, change.last_commit_before) == (SLOWDOWN, "c030", "c029")


def test_a_whole_service_takes_a_few_seconds_at_most() -> None:
    n_tests = 500
    rng = np.random.default_rng(14)
    series = {}
    for test in range(n_tests):
        # Worst case for speed: every test slow enough to pass the cheap range pre-check.
        series[test] = make_series(
            rng,
            200,
            float(rng.uniform(100, 2000)),
            0.2,
            change_at=100 if test % 10 == 0 else None,
            ratio=1.5,
            per_commit=2,
        )
    start = time.perf_counter()
    found = changes_by_test(series, PARAMS)
    elapsed = time.perf_counter() - start
    print(f"change points: {n_tests} tests x 200 commits in {elapsed:.2f} s")
    assert elapsed < 5.0
    planted = {t for t in range(n_tests) if t % 10 == 0}
    assert planted <= set(found)
    # Stable series are not immune (about one in a thousand 200-commit series shows a spurious
    # bump), but at most 1% of them may be flagged.
    assert len(set(found) - planted) <= (n_tests - len(planted)) // 100
