"""Flaky results, flake rate and flaky-test status (DESIGN.md "flaky result", "flaky test").

Flaky result: a test-run that failed then passed on retry within the run ("retry"), or whose
first attempt failed while another run of the same commit, on any branch and started within
same_commit_days of it (before or after), passed it on its first attempt ("same_commit").
When both hold the reason is "retry" and the same-commit run is still given as evidence.
Outage runs are excluded both as flaky results and as same-commit evidence.

Flake rate = flaky results / decided test-runs (first attempt passed or failed).

Flaky test, evaluated at `as_of` from the flaky results the caller counts:
- confirmed: at least one flaky result in the flaky_window_days before `as_of`. A test whose last
  flaky result is older stays confirmed until it clears, because the definition clears a flaky
  test only by the rule below.
- cleared: no flaky result in the clear_days before `as_of` (and none in the flaky window) and the
  latest ≥ clear_passes decided first attempts, on every branch, all passed. Reading chosen: the
  passing streak counts every branch, as flakiness does.
- suspected: not confirmed, and over its last suspect_runs decided first attempts on the
  reference branch (ordered by run start): n ≥ suspect_min_runs, failures ≥ suspect_min_failures,
  flip rate ≥ suspect_flip_rate, and the failures are not one contiguous block (a block is a
  regression that got fixed, not flakiness). A cleared test that meets this is suspected again.

Failures the caller attributes elsewhere (polluter-explained, cascade followers) are dropped
from the outcome series and the passing streak through `ignore_failures`, and their flaky
results are left out of `flaky_results` by the caller; that is how a test whose failures are all
explained by isolation causes stops being reported as `flaky`.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .columns import FIRST, RUN, TEST, columns_of
from .data import ERROR, FAILED, PASSED, SKIPPED, RunMeta, TestRun
from .params import MetricParams
from .stats import binary_entropy, failures_contiguous, flip_rate

RETRY = "retry"
SAME_COMMIT = "same_commit"

CONFIRMED = "confirmed"
SUSPECTED = "suspected"
CLEARED = "cleared"

_FAIL_CODES = frozenset((FAILED, ERROR))


@dataclass(frozen=True, slots=True)
class FlakyResult:
    run: int
    test: int
    reason: str  # RETRY or SAME_COMMIT
    evidence_run: int | None  # a run of the same commit that passed the test on its first attempt


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """First-attempt outcomes of one test on the reference branch, oldest first."""

    n: int
    failures: int
    flip_rate: float
    entropy: float
    contiguous_failures: bool
    runs: tuple[int, ...]
    failed: tuple[bool, ...]

    def evidence(self) -> dict[str, object]:
        return {
            "n": self.n,
            "failures": self.failures,
            "flip_rate": round(self.flip_rate, 6),
            "entropy": round(self.entropy, 6),
            "contiguous_failures": self.contiguous_failures,
        }


@dataclass(frozen=True, slots=True)
class FlakyTestStatus:
    test: int
    status: str  # CONFIRMED, SUSPECTED or CLEARED
    window_flaky_results: int  # flaky results in the flaky window
    window_decided: int  # decided test-runs in the flaky window
    last_flaky_run: int | None
    passing_streak: int  # latest consecutive first-attempt passes, every branch
    series: SeriesStats | None

    @property
    def window_flake_rate(self) -> float | None:
        return self.window_flaky_results / self.window_decided if self.window_decided else None


def _known_runs(
    runs: Mapping[int, RunMeta], as_of: dt.datetime, exclude_runs: Collection[int]
) -> dict[int, int]:
    """Runs started before `as_of` and not excluded -> rank in (started_at, id) order."""
    keep = sorted(
        (meta.started_at, rid)
        for rid, meta in runs.items()
        if meta.started_at < as_of and rid not in exclude_runs
    )
    return {rid: i for i, (_, rid) in enumerate(keep)}


def find_flaky_results(
    runs: Mapping[int, RunMeta],
    test_runs: Sequence[TestRun],
    *,
    as_of: dt.datetime,
    params: MetricParams,
    exclude_runs: Collection[int] = frozenset(),
    later_passes: Mapping[tuple[str, int], Sequence[tuple[dt.datetime, int]]] | None = None,
) -> list[FlakyResult]:
    """Every flaky result among runs started before `as_of`, sorted by (run start, run, test).

    Pass the outage runs as `exclude_runs`. `later_passes`: first-attempt passes of runs
    started from `as_of` on, (commit, test) -> [(started_at, run)], evidence for failures
    before it (a failure on Sunday night whose commit passed on Monday is a flaky result of its
    own week); they count as nothing else.
    """
    known = _known_runs(runs, as_of, exclude_runs)
    candidates = [
        tr for tr in test_runs
        if (tr.first in _FAIL_CODES or tr.passed_on_retry) and tr.run in known
    ]  # fmt: skip
    failing_tests = {tr.test for tr in candidates if tr.first in _FAIL_CODES}
    # (commit, test) -> first-attempt passes as sorted (started_at, run), only where needed
    passes: dict[tuple[str, int], list[tuple[dt.datetime, int]]] = defaultdict(list)
    if failing_tests:
        for tr in test_runs:
            if tr.first == PASSED and tr.test in failing_tests and tr.run in known:
                meta = runs[tr.run]
                passes[(meta.commit, tr.test)].append((meta.started_at, tr.run))
    for key, later in (later_passes or {}).items():
        if key[1] in failing_tests:
            passes[key].extend(later)
    for lst in passes.values():
        lst.sort()
    reach = dt.timedelta(days=params.same_commit_days)

    out: list[FlakyResult] = []
    for tr in candidates:
        evidence: int | None = None
        if tr.first in _FAIL_CODES:
            meta = runs[tr.run]
            same = passes.get((meta.commit, tr.test), [])
            lo = bisect.bisect_left(same, (meta.started_at - reach, -1))
            best: tuple[dt.timedelta, int] | None = None
            for started, other in same[lo:]:
                if started > meta.started_at + reach:
                    break
                if other == tr.run:
                    continue
                rank = (abs(started - meta.started_at), other)  # nearest in time, then lowest id
                if best is None or rank < best:
                    best = rank
            evidence = best[1] if best else None
        if tr.passed_on_retry:
            out.append(FlakyResult(tr.run, tr.test, RETRY, evidence))
        elif evidence is not None:
            out.append(FlakyResult(tr.run, tr.test, SAME_COMMIT, evidence))
    out.sort(key=lambda fr: (known[fr.run], fr.test))
    return out


def flake_rate(
    test_runs: Iterable[TestRun], flaky_results: Iterable[FlakyResult], *, run_ids: Collection[int]
) -> tuple[int, int, float | None]:
    """(flaky results, decided test-runs, rate) over the given runs; rate None if none decided."""
    decided = sum(1 for tr in test_runs if tr.first != SKIPPED and tr.run in run_ids)
    flaky = sum(1 for fr in flaky_results if fr.run in run_ids)
    return flaky, decided, (flaky / decided if decided else None)


def series_stats(runs_in_order: Sequence[int], failed: Sequence[bool]) -> SeriesStats:
    n = len(failed)
    failures = sum(failed)
    return SeriesStats(
        n=n,
        failures=failures,
        flip_rate=flip_rate(failed),
        entropy=binary_entropy(failures / n) if n else 0.0,
        contiguous_failures=failures_contiguous(failed),
        runs=tuple(runs_in_order),
        failed=tuple(bool(x) for x in failed),
    )


def is_suspected(stats: SeriesStats, params: MetricParams) -> bool:
    return (
        stats.n >= params.suspect_min_runs
        and stats.failures >= params.suspect_min_failures
        and stats.flip_rate >= params.suspect_flip_rate
        and not stats.contiguous_failures
    )


def reference_series(
    runs: Mapping[int, RunMeta],
    test_runs: Sequence[TestRun],
    *,
    as_of: dt.datetime,
    params: MetricParams,
    exclude_runs: Collection[int] = frozenset(),
    ignore_failures: Collection[tuple[int, int]] = frozenset(),
) -> dict[int, SeriesStats]:
    """Per test, its last suspect_runs decided first attempts on the reference branch."""
    known = _known_runs(runs, as_of, exclude_runs)
    reference = {
        rid: rank for rid, rank in known.items() if runs[rid].branch == params.reference_branch
    }
    n = len(test_runs)
    if not n or not reference:
        return {}
    cols = columns_of(test_runs).ints[:, [RUN, TEST, FIRST]]
    run_ids, run_index = np.unique(cols[:, 0], return_inverse=True)
    rank = np.array([reference.get(rid, -1) for rid in run_ids.tolist()], dtype=np.int64)[
        run_index.ravel()
    ]
    first = cols[:, 2]
    failed = (first == FAILED) | (first == ERROR)
    keep = (rank >= 0) & (first != SKIPPED)
    if ignore_failures:
        for i in np.flatnonzero(keep & failed).tolist():
            if (int(cols[i, 0]), int(cols[i, 1])) in ignore_failures:
                keep[i] = False
    rows = np.flatnonzero(keep)
    if not len(rows):  # only skips on the reference branch, or every failure explained
        return {}
    rows = rows[np.lexsort((rank[rows], cols[rows, 1]))]  # by test, then rank
    tests = cols[rows, 1]
    starts = np.flatnonzero(np.r_[True, tests[1:] != tests[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    runs_col, failed_col = cols[rows, 0].tolist(), failed[rows].tolist()
    out: dict[int, SeriesStats] = {}
    last = params.suspect_runs
    for test, lo, hi in zip(tests[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        lo = max(lo, hi - last)
        out[test] = series_stats(runs_col[lo:hi], failed_col[lo:hi])
    return out


def flaky_test_statuses(
    runs: Mapping[int, RunMeta],
    test_runs: Sequence[TestRun],
    flaky_results: Sequence[FlakyResult],
    *,
    as_of: dt.datetime,
    params: MetricParams,
    exclude_runs: Collection[int] = frozenset(),
    ignore_failures: Collection[tuple[int, int]] = frozenset(),
    series: Mapping[int, SeriesStats] | None = None,
) -> dict[int, FlakyTestStatus]:
    """Status at `as_of` of every test that has a counted flaky result or is suspected.

    `flaky_results` are the ones that count as plain flakiness (the caller removes those it
    attributes to a polluter or a cascade). `series` is reference_series(...) called with the
    same arguments, when the caller already has it.
    """
    known = _known_runs(runs, as_of, exclude_runs)
    window_start = as_of - dt.timedelta(days=params.flaky_window_days)
    clear_start = as_of - dt.timedelta(days=params.clear_days)

    results_by_test: dict[int, list[FlakyResult]] = defaultdict(list)
    for fr in flaky_results:
        if fr.run in known:
            results_by_test[fr.test].append(fr)
    if series is None:
        series = reference_series(
            runs,
            test_runs,
            as_of=as_of,
            params=params,
            exclude_runs=exclude_runs,
            ignore_failures=ignore_failures,
        )
    suspected = {t for t, stats in series.items() if is_suspected(stats, params)}
    tests = set(results_by_test) | suspected

    history: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    window_decided: dict[int, int] = defaultdict(int)
    for tr in test_runs:
        if tr.test not in tests or tr.first == SKIPPED or tr.run not in known:
            continue
        if runs[tr.run].started_at >= window_start:
            window_decided[tr.test] += 1
        failed = tr.first in _FAIL_CODES
        if failed and (tr.run, tr.test) in ignore_failures:
            continue
        history[tr.test].append((known[tr.run], failed))

    out: dict[int, FlakyTestStatus] = {}
    for test in sorted(tests):
        results = sorted(results_by_test.get(test, []), key=lambda fr: known[fr.run])
        streak = 0
        for _, failed in sorted(history.get(test, []), reverse=True):
            if failed:
                break
            streak += 1
        in_window = [fr for fr in results if runs[fr.run].started_at >= window_start]
        status: str | None = None
        if in_window:
            status = CONFIRMED
        elif results:
            last_at = runs[results[-1].run].started_at
            cleared = last_at < clear_start and streak >= params.clear_passes
            status = CLEARED if cleared else CONFIRMED
        if status in (None, CLEARED) and test in suspected:
            status = SUSPECTED
        assert status is not None
        out[test] = FlakyTestStatus(
            test=test,
            status=status,
            window_flaky_results=len(in_window),
            window_decided=window_decided.get(test, 0),
            last_flaky_run=results[-1].run if results else None,
            passing_streak=streak,
            series=series.get(test),
        )
    return out
