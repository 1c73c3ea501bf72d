"""Pass rates and service-week counts on hand-made test-runs."""

from __future__ import annotations

import datetime as dt

from reports.metrics.data import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    Execution,
    RunMeta,
    TestRun,
    group_test_runs,
)
from reports.metrics.passrates import pass_rates, pass_rates_by_test, service_week_counts

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def attempts(run: int, test: int, *outcomes: int) -> list[Execution]:
    return [
        Execution(run, test, i + 1, outcome, 10, "w0", test) for i, outcome in enumerate(outcomes)
    ]


def test_it_counts_first_attempts_and_final_outcomes_separately() -> None:
    test_runs = group_test_runs(
        attempts(1, 1, PASSED)
        + attempts(1, 2, FAILED)
        + attempts(1, 3, ERROR)  # error counts as failed
        + attempts(1, 4, SKIPPED)  # in no denominator
        + attempts(1, 5, FAILED, PASSED)  # failed first, passed on retry
        + attempts(1, 6, ERROR, FAILED, FAILED)
    )
    rates = pass_rates(test_runs)
    assert (rates.passed, rates.failed, rates.skipped) == (1, 4, 1)
    assert (rates.final_passed, rates.final_failed) == (2, 3)
    assert rates.pass_rate == 1 / 5
    assert rates.final_pass_rate == 2 / 5


def test_it_has_no_rate_without_a_decided_test_run() -> None:
    assert pass_rates([]).pass_rate is None
    only_skips = group_test_runs(attempts(1, 1, SKIPPED) + attempts(2, 1, SKIPPED))
    rates = pass_rates(only_skips)
    assert rates.pass_rate is None and rates.final_pass_rate is None
    assert rates.skipped == 2


def test_it_gives_rates_per_test() -> None:
    test_runs = group_test_runs(
        attempts(1, 1, PASSED) + attempts(2, 1, FAILED) + attempts(1, 2, FAILED, PASSED)
    )
    by_test = pass_rates_by_test(test_runs)
    assert list(by_test) == [1, 2]
    assert by_test[1].pass_rate == 0.5 and by_test[1].final_pass_rate == 0.5
    assert by_test[2].pass_rate == 0.0 and by_test[2].final_pass_rate == 1.0


def _runs() -> dict[int, RunMeta]:
    return {
        1: RunMeta(1, "aaa", "main", T0),
        2: RunMeta(2, "aaa", "feature", T0 + dt.timedelta(hours=1)),  # same commit
        3: RunMeta(3, "bbb", "main", T0 + dt.timedelta(days=1)),
        4: RunMeta(4, "ccc", "main", T0 + dt.timedelta(days=2)),  # none of this service's tests
    }


def test_it_counts_a_service_week() -> None:
    executions = (
        attempts(1, 10, PASSED)
        + attempts(1, 11, FAILED, PASSED)
        + attempts(1, 12, SKIPPED)
        + attempts(2, 10, PASSED)
        + attempts(2, 13, FAILED, FAILED, FAILED)
        + attempts(3, 10, ERROR)
        + attempts(3, 14, PASSED)
    )
    counts = service_week_counts(
        _runs(),
        group_test_runs(executions),
        seen_before={10, 11, 12, 99},
        seen_previous={10, 11, 12, 15, 99},
    )
    assert counts.runs == 3  # run 4 held none of the service's tests
    assert counts.commits == 2  # aaa (two runs) and bbb
    assert counts.results == 10  # every attempt is a row
    assert counts.tests_executed == 4  # 10, 11, 13, 14; 12 was only skipped
    assert counts.new_tests == (13, 14)
    # 12 was skipped this week: still there, not removed. 15 and 99 were not seen at all.
    assert counts.removed_tests == (15, 99)
    assert counts.pass_rate == 3 / 6  # first attempts: 10 x2 and 14 passed; 11, 13, 10 failed
    assert counts.final_pass_rate == 4 / 6


def test_a_week_without_runs_removes_nothing() -> None:
    counts = service_week_counts(_runs(), [], seen_before={1, 2}, seen_previous={1, 2})
    assert (counts.runs, counts.commits, counts.results, counts.tests_executed) == (0, 0, 0, 0)
    assert counts.removed_tests == () and counts.new_tests == ()
    assert counts.pass_rate is None


def test_runs_may_be_given_as_a_list() -> None:
    test_runs: list[TestRun] = group_test_runs(attempts(1, 10, PASSED) + attempts(3, 10, PASSED))
    counts = service_week_counts(
        list(_runs().values()), test_runs, seen_before=set(), seen_previous=set()
    )
    assert (counts.runs, counts.commits, counts.new_tests) == (2, 2, (10,))
