from __future__ import annotations

import pytest

from reports.metrics.data import group_test_runs
from reports.metrics.flaky import (
    CLEARED,
    CONFIRMED,
    RETRY,
    SAME_COMMIT,
    SUSPECTED,
    FlakyResult,
    find_flaky_results,
    flake_rate,
    flaky_test_statuses,
    reference_series,
)
from reports.metrics.params import MetricParams

from .isolation_histories import History, at

PARAMS = MetricParams()


def results(h: History, *, as_of=None, exclude=frozenset()) -> list[FlakyResult]:
    return find_flaky_results(
        h.runs,
        group_test_runs(h.executions),
        as_of=as_of or at(days=30),
        params=PARAMS,
        exclude_runs=exclude,
    )


def statuses(h: History, flaky=None, *, as_of, ignore=frozenset()):
    trs = group_test_runs(h.executions)
    if flaky is None:
        flaky = find_flaky_results(h.runs, trs, as_of=as_of, params=PARAMS)
    return flaky_test_statuses(
        h.runs, trs, flaky, as_of=as_of, params=PARAMS, ignore_failures=ignore
    )


def series_history(pattern: str, *, test: int = 1, branch: str = "main", start_day: float = 0):
    """One run per character, 6 hours apart, each its own commit (no same-commit evidence)."""
    h = History()
    for i, letter in enumerate(pattern):
        h.add_run(
            [(test, letter), (99, "P")], started_at=at(days=start_day, hours=6 * i), branch=branch
        )
    return h


def test_a_failure_that_passes_on_retry_is_a_flaky_result():
    h = History()
    run = h.add_run([(1, "FP"), (2, "P"), (3, "FF")], started_at=at(days=1))
    assert results(h) == [FlakyResult(run, 1, RETRY, None)]


def test_a_failure_with_a_pass_of_the_same_commit_is_a_flaky_result():
    h = History()
    failed = h.add_run([(1, "F")], started_at=at(days=1), commit="abc", branch="feature")
    passed = h.add_run([(1, "P")], started_at=at(days=2), commit="abc", branch="main")
    assert results(h) == [FlakyResult(failed, 1, SAME_COMMIT, passed)]


def test_same_commit_evidence_can_come_from_an_earlier_run_and_picks_the_nearest():
    h = History()
    far = h.add_run([(1, "P")], started_at=at(days=1), commit="abc")
    near = h.add_run([(1, "P")], started_at=at(days=4), commit="abc")
    failed = h.add_run([(1, "F")], started_at=at(days=5), commit="abc")
    assert results(h) == [FlakyResult(failed, 1, SAME_COMMIT, near)]
    assert far != near


def test_same_commit_evidence_must_be_within_seven_days():
    h = History()
    h.add_run([(1, "F")], started_at=at(days=1), commit="abc")
    h.add_run([(1, "P")], started_at=at(days=8, hours=1), commit="abc")
    assert results(h) == []


def test_failing_on_every_run_of_a_commit_is_not_flaky():
    h = History()
    h.add_run([(1, "F")], started_at=at(days=1), commit="abc")
    h.add_run([(1, "FF")], started_at=at(days=2), commit="abc")
    h.add_run([(1, "P")], started_at=at(days=3), commit="def")
    assert results(h) == []


def test_retry_keeps_same_commit_evidence_too():
    h = History()
    run = h.add_run([(1, "FP")], started_at=at(days=1), commit="abc")
    other = h.add_run([(1, "P")], started_at=at(days=1, hours=2), commit="abc")
    assert results(h) == [FlakyResult(run, 1, RETRY, other)]


def test_outage_runs_give_no_flaky_result_and_no_evidence():
    h = History()
    outage = h.add_run([(1, "FP")], started_at=at(days=1), commit="abc")
    passing_outage = h.add_run([(2, "P")], started_at=at(days=1, hours=1), commit="abc")
    h.add_run([(2, "F")], started_at=at(days=1, hours=2), commit="abc")
    assert results(h, exclude={outage, passing_outage}) == []


def test_evidence_after_as_of_is_not_known_yet():
    h = History()
    h.add_run([(1, "F")], started_at=at(days=1), commit="abc")
    h.add_run([(1, "P")], started_at=at(days=3), commit="abc")
    assert results(h, as_of=at(days=2)) == []
    assert len(results(h, as_of=at(days=4))) == 1


def test_flake_rate_is_flaky_results_over_decided_test_runs():
    h = History()
    r1 = h.add_run([(1, "FP"), (2, "P"), (3, "S"), (4, "F")], started_at=at(days=1))
    r2 = h.add_run([(1, "P"), (2, "FP"), (3, "P"), (4, "P")], started_at=at(days=2))
    trs = group_test_runs(h.executions)
    flaky = find_flaky_results(h.runs, trs, as_of=at(days=3), params=PARAMS)
    # decided: 3 in r1 (the skip does not count) + 4 in r2; flaky: 1 + 1
    assert flake_rate(trs, flaky, run_ids={r1, r2}) == (2, 7, pytest.approx(2 / 7))
    assert flake_rate(trs, flaky, run_ids=set()) == (0, 0, None)


def test_a_recent_flaky_result_confirms_the_test():
    h = series_history("PPPPPPPPPP")
    h.add_run([(1, "FP")], started_at=at(days=10))
    got = statuses(h, as_of=at(days=11))
    assert got[1].status == CONFIRMED
    assert got[1].window_flaky_results == 1


def test_it_clears_after_quiet_days_and_enough_passes():
    h = History()
    h.add_run([(1, "FP")], started_at=at(days=0))
    for i in range(5):
        h.add_run([(1, "P")], started_at=at(days=3 + i))
    assert statuses(h, as_of=at(days=15))[1].status == CLEARED
    # 14 days not yet over
    assert statuses(h, as_of=at(days=13))[1].status == CONFIRMED


def test_it_stays_confirmed_without_five_consecutive_passes():
    h = History()
    h.add_run([(1, "FP")], started_at=at(days=0))
    for i, letter in enumerate("PPPFPPPP"):
        h.add_run([(1, letter)], started_at=at(days=2 + i))
    got = statuses(h, as_of=at(days=20))[1]
    assert got.passing_streak == 4
    assert got.status == CONFIRMED


def test_alternating_failures_on_main_are_suspected():
    h = series_history("PPFPPPFPPFPPPF")  # 4 failures, 7 flips in 13 pairs
    got = statuses(h, as_of=at(days=10))
    assert got[1].status == SUSPECTED
    assert got[1].series.flip_rate == pytest.approx(7 / 13)
    assert 99 not in got


def test_a_regression_block_is_not_suspected():
    h = series_history("PPPPPFFFFFPPPP")
    assert 1 not in statuses(h, as_of=at(days=10))
    h = series_history("PPPPPPPFFFFFFF")
    assert 1 not in statuses(h, as_of=at(days=10))


def test_a_contiguous_block_with_a_high_flip_rate_is_still_not_suspected():
    # n = 10, one block of 2 in the middle: flips 2/9 ≥ 0.2, but one block -> a regression fixed
    h = series_history("PPPPFFPPPP")
    stats = reference_series(
        h.runs, group_test_runs(h.executions), as_of=at(days=10), params=PARAMS
    )
    assert stats[1].flip_rate == pytest.approx(2 / 9)
    assert stats[1].contiguous_failures
    assert 1 not in statuses(h, as_of=at(days=10))


def test_a_test_broken_since_its_first_run_is_not_flaky():
    h = series_history("FFFFFFFFFFFF")
    assert statuses(h, as_of=at(days=10)) == {}


def test_suspicion_needs_enough_runs():
    h = series_history("PFPFPFPFP")  # n = 9 < 10
    assert 1 not in statuses(h, as_of=at(days=10))
    h = series_history("PFPFPFPFPP")  # n = 10
    assert statuses(h, as_of=at(days=10))[1].status == SUSPECTED


def test_suspicion_uses_only_the_reference_branch():
    h = series_history("PFPFPFPFPFPF", branch="feature")
    assert statuses(h, as_of=at(days=10)) == {}


def test_suspicion_looks_at_the_last_thirty_runs_only():
    # old alternation, then 30 passes: nothing left to suspect
    h = series_history("PFPFPFPFPFPF" + "P" * 30)
    assert statuses(h, as_of=at(days=20)) == {}


def test_entropy_and_flip_rate_come_with_the_series():
    h = series_history("PPFF")
    stats = reference_series(
        h.runs, group_test_runs(h.executions), as_of=at(days=10), params=PARAMS
    )
    assert stats[1].n == 4
    assert stats[1].failures == 2
    assert stats[1].entropy == pytest.approx(1.0)
    assert stats[1].flip_rate == pytest.approx(1 / 3)


def test_a_reference_branch_of_skips_or_explained_failures_has_no_series():
    skips, explained = History(), History()
    for day in range(3):
        skips.add_run([(1, "S")], started_at=at(days=day))
        skips.add_run([(2, "P")], started_at=at(days=day, hours=1), branch="feature")
        explained.add_run([(1, "F")], started_at=at(days=day))
    failing = {(e.run, e.test) for e in explained.executions}
    for h, ignore in ((skips, frozenset()), (explained, failing)):
        trs = group_test_runs(h.executions)
        assert (
            reference_series(h.runs, trs, as_of=at(days=10), params=PARAMS, ignore_failures=ignore)
            == {}
        )


def test_ignored_failures_leave_the_series_and_the_streak():
    h = series_history("PPFPPPFPPFPPPF")
    failing = sorted(
        (e.run, e.test) for e in h.executions if e.test == 1 and e.outcome == 1 and e.attempt == 1
    )
    assert statuses(h, as_of=at(days=10), ignore=set(failing)) == {}
