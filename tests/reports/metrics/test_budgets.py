"""Budget matching and violations on hand-made test-runs."""

from __future__ import annotations

import pytest

from reports.metrics.budgets import Budget, TestLabel, budget_for, budget_violations, check_budget
from reports.metrics.data import FAILED, PASSED, TestRun
from reports.metrics.params import MetricParams

PARAMS = MetricParams()

LOGIN = TestLabel(1, "tests.api.test_auth.TestLogin", "test_login", "tests/api/v2/test_auth.py")
REPORT = TestLabel(2, "tests.reports.TestPdf", "test_render", "tests/reports/test_pdf.py")
BARE = TestLabel(3, "", "test_bare", None)


def tr(run: int, test: int, ms: int, outcome: int = PASSED) -> TestRun:
    return TestRun(run, test, outcome, outcome, 1, False, ms, "w0", 0)


def test_a_test_glob_matches_classname_and_name() -> None:
    assert Budget(100, test_glob="*TestLogin::test_login").matches(LOGIN)
    assert Budget(100, test_glob="tests.api.*").matches(LOGIN)
    assert not Budget(100, test_glob="tests.api.*").matches(REPORT)
    assert Budget(100, test_glob="::test_bare").matches(BARE)
    # Case-sensitive on every platform.
    assert not Budget(100, test_glob="*testlogin::*").matches(LOGIN)


def test_a_file_glob_matches_the_path_across_directories() -> None:
    assert Budget(100, file_glob="tests/api/*").matches(LOGIN)  # * crosses "/"
    assert not Budget(100, file_glob="tests/api/*").matches(REPORT)
    assert not Budget(100, file_glob="*").matches(BARE)  # no file, no file match


def test_both_globs_must_match_and_none_matches_nothing() -> None:
    assert Budget(100, test_glob="*::test_login", file_glob="tests/api/*").matches(LOGIN)
    assert not Budget(100, test_glob="*::test_login", file_glob="tests/reports/*").matches(LOGIN)
    assert not Budget(100).matches(LOGIN)


def test_the_first_matching_budget_applies() -> None:
    narrow = Budget(50, test_glob="*::test_login")
    broad = Budget(1000, file_glob="tests/*")
    assert budget_for(LOGIN, [narrow, broad]) is narrow
    assert budget_for(LOGIN, [broad, narrow]) is broad
    assert budget_for(REPORT, [narrow, broad]) is broad
    assert budget_for(BARE, [narrow, broad]) is None


def test_with_enough_runs_it_is_the_p95_that_counts() -> None:
    budget = Budget(100, test_glob="*")
    # 20 passed runs: 17 fast, 3 slow. p95 (rank 18.05) = 150 + 0.05 * 0 = 150 over 100.
    durations = [50.0] * 17 + [150.0] * 3
    violation = check_budget(1, budget, durations, PARAMS)
    assert violation is not None
    assert violation.p95_ms == pytest.approx(150.0)
    assert violation.severity == pytest.approx(1.5)
    assert violation.over == 3 and violation.n == 20
    # One slow run of twenty: p95 = 50 + 0.05 * 350 = 67.5, within budget, however slow it was.
    assert check_budget(1, budget, [50.0] * 19 + [400.0], PARAMS) is None


def test_with_few_runs_it_takes_three_over_budget() -> None:
    budget = Budget(100, test_glob="*")
    assert check_budget(1, budget, [50.0, 120.0, 130.0], PARAMS) is None
    violation = check_budget(1, budget, [50.0, 120.0, 130.0, 250.0], PARAMS)
    assert violation is not None
    assert violation.p95_ms is None
    assert violation.severity == 2.5  # max / budget
    assert violation.evidence()["over"] == 3
    assert check_budget(1, budget, [], PARAMS) is None


def test_violations_of_a_week_worst_first() -> None:
    budgets = [Budget(100, file_glob="tests/api/*"), Budget(200, file_glob="tests/reports/*")]
    labels = {1: LOGIN, 2: REPORT, 3: BARE}
    test_runs = [tr(r, 1, 150) for r in range(3)]  # 1.5x
    test_runs += [tr(r, 2, 600) for r in range(3)]  # 3x
    test_runs += [tr(r, 2, 9000, outcome=FAILED) for r in range(3, 6)]  # failures don't count
    test_runs += [tr(r, 3, 9000) for r in range(3)]  # no budget matches
    test_runs += [tr(r, 4, 9000) for r in range(3)]  # no label
    violations = budget_violations(budgets, labels, test_runs, PARAMS)
    assert [(v.test, v.severity, v.n) for v in violations] == [(2, 3.0, 3), (1, 1.5, 3)]
