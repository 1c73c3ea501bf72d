"""A window's columns made run by run and put together are the window's columns, and the analyses
that read them find the same with them as from the test-runs."""

from __future__ import annotations

from itertools import groupby

import numpy as np

from reports.metrics.columns import Columns, TestRuns
from reports.metrics.data import group_test_runs
from reports.metrics.flaky import reference_series
from reports.metrics.order import infer_order_dependence
from reports.metrics.params import MetricParams

from .isolation_histories import Planted, simulate

PARAMS = MetricParams()


def window():
    sim = simulate(8, n_runs=150, n_tests=60, planted=[Planted(10, (20, 21)), Planted(11, (22,))])
    test_runs = sorted(group_test_runs(sim.history.executions), key=lambda tr: tr.run)
    per_run = [list(trs) for _, trs in groupby(test_runs, key=lambda tr: tr.run)]
    return sim, test_runs, per_run


def test_columns_put_together_run_by_run_are_the_windows_columns() -> None:
    _, test_runs, per_run = window()
    whole = Columns.of(test_runs)
    assert len(whole.timelines) == 4 and len(whole.ints) == len(test_runs)
    # Runs that used fewer timelines than the window, not the first of them: their own codes
    # start at 0 and must be mapped to the window's.
    last = whole.timelines[-1]
    partial = [[tr for tr in trs if tr.timeline == last][:2] for trs in per_run[:3]]
    parts = [Columns.of(trs) for trs in partial] + [Columns.of(trs) for trs in per_run]
    rows = [tr for trs in partial for tr in trs] + test_runs
    joined = Columns.concat(parts)
    expected = Columns.of(rows)
    assert joined.timelines == expected.timelines
    assert np.array_equal(joined.ints, expected.ints)
    assert np.array_equal(joined.timeline, expected.timeline)
    assert [expected.timelines[i] for i in joined.timeline] == [tr.timeline for tr in rows]
    assert [tuple(r) for r in joined.ints[:, :2].tolist()] == [(tr.run, tr.test) for tr in rows]


def test_the_analyses_find_the_same_from_carried_columns() -> None:
    sim, test_runs, per_run = window()
    carried = TestRuns(test_runs, Columns.concat([Columns.of(trs) for trs in per_run]))
    outages = {next(iter(sim.history.runs))}  # an excluded run is left out either way
    found = infer_order_dependence(
        sim.history.runs, test_runs, as_of=sim.as_of, params=PARAMS, exclude_runs=outages
    )
    assert found  # the planted pairs: the comparison means something
    assert (
        infer_order_dependence(
            sim.history.runs, carried, as_of=sim.as_of, params=PARAMS, exclude_runs=outages
        )
        == found
    )
    series = reference_series(
        sim.history.runs, test_runs, as_of=sim.as_of, params=PARAMS, exclude_runs=outages
    )
    assert series and any(s.failures for s in series.values())
    assert (
        reference_series(
            sim.history.runs, carried, as_of=sim.as_of, params=PARAMS, exclude_runs=outages
        )
        == series
    )
