from __future__ import annotations

import pytest

from reports.metrics.cascades import (
    cascade_followers,
    detect_cascades,
    outage_runs,
    timeline_in_outage,
)
from reports.metrics.data import group_test_runs
from reports.metrics.params import MetricParams

from .isolation_histories import History, at

PARAMS = MetricParams()
P, F = False, True
TESTS = list(range(1, 9))


def clean_runs(h: History, n: int, *, start_day: float = 0.0) -> None:
    for i in range(n):
        h.add_run([(t, "P") for t in TESTS], started_at=at(days=start_day, hours=i))


def test_a_timeline_that_collapses_is_in_outage():
    assert timeline_in_outage([F, F, F, F], share=0.5, min_failures=3)
    assert timeline_in_outage([P] * 10 + [F] * 6 + [P] * 4, share=0.5, min_failures=3)


def test_an_early_unrelated_failure_does_not_hide_a_later_outage():
    # From the first failure only 8/20 failed, but from the 12th test on 8 of 10 did.
    assert timeline_in_outage([F] + [P] * 10 + [F] * 8 + [P] * 2, share=0.5, min_failures=3)


def test_a_single_failing_last_test_is_not_an_outage():
    assert not timeline_in_outage([P, P, P, F], share=0.5, min_failures=3)
    assert not timeline_in_outage([P, P, F, F], share=0.5, min_failures=3)


def test_exactly_half_failing_is_not_more_than_half():
    # every suffix that starts at a failure is exactly half failures
    assert not timeline_in_outage([P, F, P, F, P, F, P, F, P], share=0.5, min_failures=3)
    # ...but from the third-last failure on, 3 of 5 failed
    assert timeline_in_outage([P, F, P, F, P, F, P, F], share=0.5, min_failures=3)


def test_a_short_timeline_needs_all_of_its_tests_failing():
    assert timeline_in_outage([F, F], share=0.5, min_failures=3)
    assert not timeline_in_outage([P, F], share=0.5, min_failures=3)
    assert not timeline_in_outage([], share=0.5, min_failures=3)


def test_a_run_is_an_outage_only_when_every_timeline_collapses():
    h = History()
    everywhere = h.add_run(
        {"w0": [(1, "P"), (2, "F"), (3, "F"), (4, "F")], "w1": [(5, "F"), (6, "F"), (7, "F")]},
        started_at=at(hours=1),
    )
    one_worker_fine = h.add_run(
        {"w0": [(1, "P"), (2, "F"), (3, "F"), (4, "F")], "w1": [(5, "P"), (6, "P"), (7, "P")]},
        started_at=at(hours=2),
    )
    skips_only_elsewhere = h.add_run(
        {"w0": [(1, "F"), (2, "F"), (3, "F"), (4, "F")], "w1": [(5, "S"), (6, "S")]},
        started_at=at(hours=3),
    )
    assert outage_runs(group_test_runs(h.executions), params=PARAMS) == {
        everywhere,
        skips_only_elsewhere,
    }
    assert one_worker_fine not in outage_runs(group_test_runs(h.executions), params=PARAMS)


def test_it_finds_a_cascade_with_root_followers_and_probability():
    h = History()
    clean_runs(h, 30)
    run = h.add_run(
        [(1, "P"), (2, "P"), (3, "F"), (4, "F"), (5, "F"), (6, "F"), (7, "P"), (8, "P")],
        started_at=at(days=2),
    )
    cascades = detect_cascades(
        h.runs, group_test_runs(h.executions), as_of=at(days=3), params=PARAMS
    )
    assert len(cascades) == 1
    c = cascades[0]
    assert (c.run, c.timeline, c.root, c.followers) == (run, "w0", 3, (4, 5, 6))
    # each follower: 0 failures in the 30 other runs -> (0 + 1) / (30 + 2)
    assert c.probability == pytest.approx((1 / 32) ** 3)
    assert cascade_followers(cascades) == {(run, 4), (run, 5), (run, 6)}


def test_skipped_tests_are_transparent():
    h = History()
    clean_runs(h, 30)
    run = h.add_run(
        [(1, "P"), (3, "F"), (2, "S"), (4, "F"), (5, "F"), (6, "P")], started_at=at(days=2)
    )
    cascades = detect_cascades(
        h.runs, group_test_runs(h.executions), as_of=at(days=3), params=PARAMS
    )
    assert [(c.run, c.root, c.followers) for c in cascades] == [(run, 3, (4, 5))]


def test_two_failures_in_a_row_are_not_a_cascade():
    h = History()
    clean_runs(h, 30)
    h.add_run([(1, "P"), (3, "F"), (4, "F"), (5, "P")], started_at=at(days=2))
    assert (
        detect_cascades(h.runs, group_test_runs(h.executions), as_of=at(days=3), params=PARAMS)
        == []
    )


def test_followers_that_often_fail_anyway_are_not_a_cascade():
    h = History()
    for i in range(30):
        # 4 and 5 fail every other run: baseline ≈ 0.5 each, product ≈ 0.25
        outcome = "F" if i % 2 else "P"
        h.add_run(
            [(1, "P"), (4, outcome), (2, "P"), (5, outcome), (3, "P")], started_at=at(hours=i)
        )
    h.add_run([(3, "F"), (4, "F"), (5, "F"), (1, "P")], started_at=at(days=2))
    assert (
        detect_cascades(h.runs, group_test_runs(h.executions), as_of=at(days=3), params=PARAMS)
        == []
    )


def test_the_run_itself_is_left_out_of_the_baseline():
    h = History()
    clean_runs(h, 30)
    # one earlier failure of follower 4 inside the window
    h.add_run([(1, "P"), (4, "F"), (2, "P")], started_at=at(days=1))
    h.add_run([(1, "P"), (3, "F"), (4, "F"), (5, "F"), (6, "F")], started_at=at(days=2))
    cascades = detect_cascades(
        h.runs, group_test_runs(h.executions), as_of=at(days=3), params=PARAMS
    )
    assert len(cascades) == 1
    # 4: 1 failure in 31 other runs; 5 and 6: 0 in 30 (the one-off run did not run them)
    assert cascades[0].follower_rates == pytest.approx((2 / 33, 1 / 32, 1 / 32))


def test_baselines_come_from_the_window_only():
    h = History()
    # long ago 4, 5, 6 failed all the time; within the 28-day window they always passed
    for i in range(20):
        h.add_run([(4, "F"), (5, "F"), (6, "F")], started_at=at(days=-60, hours=i))
    clean_runs(h, 30)
    h.add_run([(3, "F"), (4, "F"), (5, "F"), (6, "F")], started_at=at(days=2))
    cascades = detect_cascades(
        h.runs, group_test_runs(h.executions), as_of=at(days=3), params=PARAMS
    )
    assert [c.root for c in cascades] == [3]


def test_outage_runs_are_neither_cascades_nor_baseline():
    h = History()
    clean_runs(h, 30)
    down = h.add_run([(t, "F") for t in TESTS], started_at=at(days=1))
    trs = group_test_runs(h.executions)
    outages = outage_runs(trs, params=PARAMS)
    assert outages == {down}
    assert detect_cascades(h.runs, trs, as_of=at(days=3), params=PARAMS, exclude_runs=outages) == []
    # without the exclusion the same failures would be read as a cascade
    assert detect_cascades(h.runs, trs, as_of=at(days=3), params=PARAMS) != []


def test_runs_after_as_of_are_unknown():
    h = History()
    clean_runs(h, 30)
    h.add_run([(3, "F"), (4, "F"), (5, "F"), (6, "F")], started_at=at(days=5))
    trs = group_test_runs(h.executions)
    assert detect_cascades(h.runs, trs, as_of=at(days=4), params=PARAMS) == []
    assert len(detect_cascades(h.runs, trs, as_of=at(days=6), params=PARAMS)) == 1
