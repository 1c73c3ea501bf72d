"""Pass rates and the counts a service-week publishes (DESIGN.md "pass rate", last bullet).

- pass_rate = passed / (passed + failed) over test-runs' first attempts; final_pass_rate the same
  over final outcomes (what CI showed after retries). `error` counts as failed, `skipped` enters no
  denominator, and a rate with an empty denominator is None (not 0, not 100).
- runs: distinct runs with at least one test-run of the service in the week (a run whose upload
  held none of the service's tests is not the service's run).
- commits: distinct commits of those runs.
- results: result rows, i.e. every attempt (the sum of test-runs' attempts).
- tests executed: distinct tests with at least one attempt that was not skipped.
- new tests: tests seen this week (any row, skipped included) that were not seen in the weeks
  before it that the caller read (reports.services: the earlier weeks of the history window).
- removed tests: tests seen in the service's previous week with runs but not seen this week.
  "Seen" counts skipped rows, so a test that becomes skipped is not removed; comparing with the
  previous week *with runs* keeps a quiet week from hiding or inventing removals. A week without
  runs reports no removals: nothing was observed. The caller supplies both reference sets
  (`seen_before`, `seen_previous`), which lets the computation stay a pure function.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from .data import PASSED, SKIPPED, RunMeta, TestRun, is_fail


@dataclass(frozen=True, slots=True)
class PassRates:
    passed: int  # first attempts
    failed: int  # first attempts, errors included
    skipped: int  # first attempts
    final_passed: int
    final_failed: int

    @property
    def pass_rate(self) -> float | None:
        decided = self.passed + self.failed
        return self.passed / decided if decided else None

    @property
    def final_pass_rate(self) -> float | None:
        decided = self.final_passed + self.final_failed
        return self.final_passed / decided if decided else None


def pass_rates(test_runs: Iterable[TestRun]) -> PassRates:
    """First-attempt and final pass rates over the given test-runs."""
    passed = failed = skipped = final_passed = final_failed = 0
    for tr in test_runs:
        if tr.first == PASSED:
            passed += 1
        elif is_fail(tr.first):
            failed += 1
        elif tr.first == SKIPPED:
            skipped += 1
        if tr.final == PASSED:
            final_passed += 1
        elif is_fail(tr.final):
            final_failed += 1
    return PassRates(passed, failed, skipped, final_passed, final_failed)


def pass_rates_by_test(test_runs: Iterable[TestRun]) -> dict[int, PassRates]:
    """pass_rates per test (for test-week rows)."""
    by_test: dict[int, list[TestRun]] = {}
    for tr in test_runs:
        by_test.setdefault(tr.test, []).append(tr)
    return {test: pass_rates(trs) for test, trs in sorted(by_test.items())}


@dataclass(frozen=True, slots=True)
class ServiceWeekCounts:
    runs: int
    commits: int
    tests_executed: int
    results: int
    new_tests: tuple[int, ...]  # ids, sorted: the page lists them
    removed_tests: tuple[int, ...]
    rates: PassRates

    @property
    def pass_rate(self) -> float | None:
        return self.rates.pass_rate

    @property
    def final_pass_rate(self) -> float | None:
        return self.rates.final_pass_rate


def service_week_counts(
    runs: Mapping[int, RunMeta] | Iterable[RunMeta],
    test_runs: Iterable[TestRun],
    *,
    seen_before: Collection[int],
    seen_previous: Collection[int],
) -> ServiceWeekCounts:
    """Counts and pass rates of one service-week (see the module docstring for each definition).

    `test_runs` are the service's test-runs of runs started in the week; `runs` must include
    those runs (extra runs are ignored). `seen_before`: tests of the service with any row before
    the week started. `seen_previous`: tests seen in the service's previous week with runs.
    """
    by_id = runs if isinstance(runs, Mapping) else {r.id: r for r in runs}
    trs = list(test_runs)
    run_ids = {tr.run for tr in trs}
    seen = {tr.test for tr in trs}
    executed = {tr.test for tr in trs if tr.first != SKIPPED or tr.final != SKIPPED}
    new = sorted(t for t in seen if t not in seen_before)
    removed = sorted(t for t in seen_previous if t not in seen) if trs else []
    return ServiceWeekCounts(
        runs=len(run_ids),
        commits=len({by_id[r].commit for r in run_ids}),
        tests_executed=len(executed),
        results=sum(tr.attempts for tr in trs),
        new_tests=tuple(new),
        removed_tests=tuple(removed),
        rates=pass_rates(trs),
    )
