"""Duration budget violations (DESIGN.md "budget violation").

A project sets budgets in milliseconds for globs of tests. Matching rule:
- `test_glob` is matched against "classname::name" (an empty classname gives "::name"), and
  `file_glob` against the test's file path (a test without a file never matches a file glob);
- a budget with both globs needs both to match; a budget with neither matches nothing;
- matching is fnmatch.fnmatchcase: case-sensitive on every platform, `*` also crosses "/" and
  "." (so "tests/api/*" covers nested directories, "*::test_login*" any class);
- budgets are tried in the project's order and the first match applies (as service rules do), so
  put narrow budgets before broad ones.

Over the week's passed first attempts of a test (n of them, each with a duration):
- n >= budget_min_n: a violation when p95 > budget; severity = p95 / budget;
- 0 < n < budget_min_n: p95 is not trustworthy, so a violation needs at least budget_min_over
  executions over budget; severity = max / budget (the worst execution seen, as p95 stands in
  for "the slow tail" only when there is enough data to estimate one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .data import TestRun
from .durations import passed_durations, percentile
from .params import MetricParams


@dataclass(frozen=True, slots=True)
class Budget:
    budget_ms: float
    test_glob: str | None = None  # against "classname::name"
    file_glob: str | None = None  # against the file path

    def matches(self, test: TestLabel) -> bool:
        if self.test_glob is None and self.file_glob is None:
            return False
        if self.test_glob is not None and not fnmatchcase(test.key, self.test_glob):
            return False
        if self.file_glob is not None:
            return test.file is not None and fnmatchcase(test.file, self.file_glob)
        return True


@dataclass(frozen=True, slots=True)
class TestLabel:
    """The parts of a test's identity that budgets match on."""

    __test__ = False

    id: int
    classname: str
    name: str
    file: str | None = None

    @property
    def key(self) -> str:
        return f"{self.classname}::{self.name}"


def budget_for(test: TestLabel, budgets: Sequence[Budget]) -> Budget | None:
    """The first budget that matches the test, in the given order."""
    for budget in budgets:
        if budget.matches(test):
            return budget
    return None


@dataclass(frozen=True, slots=True)
class BudgetViolation:
    test: int
    budget: Budget
    n: int  # passed first attempts with a duration
    over: int  # of those, how many took longer than the budget
    p95_ms: float | None  # published only when n >= budget_min_n
    max_ms: float
    severity: float  # p95 / budget, or max / budget when n < budget_min_n

    def evidence(self) -> dict[str, object]:
        return {
            "budget_ms": self.budget.budget_ms,
            "test_glob": self.budget.test_glob,
            "file_glob": self.budget.file_glob,
            "n": self.n,
            "over": self.over,
            "p95_ms": self.p95_ms,
            "max_ms": self.max_ms,
            "severity": self.severity,
        }


def check_budget(
    test: int, budget: Budget, durations: Sequence[float], params: MetricParams
) -> BudgetViolation | None:
    """The violation of `budget` by one test's week of passed durations, if any."""
    n = len(durations)
    if n == 0 or budget.budget_ms <= 0:
        return None
    over = sum(1 for d in durations if d > budget.budget_ms)
    worst = max(durations)
    if n >= params.budget_min_n:
        p95 = percentile(durations, 95)
        if p95 <= budget.budget_ms:
            return None
        return BudgetViolation(test, budget, n, over, p95, worst, p95 / budget.budget_ms)
    if over < params.budget_min_over:
        return None
    return BudgetViolation(test, budget, n, over, None, worst, worst / budget.budget_ms)


def budget_violations(
    budgets: Sequence[Budget],
    tests: Mapping[int, TestLabel],
    test_runs: Iterable[TestRun],
    params: MetricParams,
) -> list[BudgetViolation]:
    """Violations of one service-week, worst first (ties by test id).

    `test_runs`: the week's test-runs; `tests`: labels of their tests (a test missing from it has
    no budget).
    """
    out = []
    for test, durations in passed_durations(test_runs).items():
        label = tests.get(test)
        if label is None:
            continue
        budget = budget_for(label, budgets)
        if budget is None:
            continue
        violation = check_budget(test, budget, durations, params)
        if violation is not None:
            out.append(violation)
    out.sort(key=lambda v: (-v.severity, v.test))
    return out
