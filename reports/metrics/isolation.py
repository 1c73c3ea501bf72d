"""Isolation by cause and the service-week isolation score (DESIGN.md "Flakiness is reported by
cause", "isolation score"; algorithms.md §7).

One call per service window: `analyze_isolation` takes the runs and executions the ORM side
loaded (from `history_start(...)` up to the end of the week) and returns plain dataclasses.

Time: everything is evaluated at `as_of` (normally the end of the week, or now for the current
week); runs that started at or after `as_of` are unknown and ignored, so recomputing a past week
gives the same result even after newer runs arrived. Windows (flaky, order, cascade baseline) end
at `as_of`; the score covers the runs started in [week_start, week_end).

Steps:
1. Outage runs (cascades.outage_runs) are set aside: they are infra, not isolation. They are left
   out of flaky detection, order inference, cascades, their baselines, and the score (neither
   clean nor unclean: the score's runs, flake rate and noise share count non-outage runs only;
   `outage_runs` is published beside them).
2. Flaky results, cascades and order-dependent victims/polluters are found independently.
3. Each failing first attempt that isolation explains gets one cause, in this order:
   `order_dependent` (a polluter ran earlier on its timeline), `cascade` (it was a cascade
   follower), `flaky` (it is a flaky result). A flaky result whose failure is explained by a
   polluter or a cascade does not count toward the test's `flaky` status, and those failures are
   dropped from its outcome series, so a test whose failures are all explained otherwise is not
   reported as `flaky`.
4. A run is unclean when it has any flaky result (whatever its cause), a polluter-explained
   failure or a cascade (the root ran in it). The drill-down lists each unclean run with its
   causes; a flaky result is listed under the cause it was attributed to.

Components (restricted to tests with a decided first attempt in the week's runs, so the ratio
stays within 0..1): flaky tests (status confirmed or suspected at `as_of`) ÷ tests executed,
victims and polluters (from the order window ending at `as_of`), cascade timelines ÷ timelines,
and noise share = failed first attempts that are a flaky result, polluter-explained or a cascade
follower (each once) ÷ all failed first attempts. Failures of merely suspected tests are not in
the noise share: nothing proves them flaky.

Findings: `flaky` for every test confirmed or suspected at `as_of`; `order_dependent` for every
(victim, polluter) pair found in the order window (first_run/last_run bound the failures it
explains, so the caller can tell which weeks hold the evidence); `cascade` per root test, for the
cascades whose run is in the week. Scores: `flaky` — the test's flake rate over the flaky window
when confirmed, its flip rate when suspected; `order_dependent` — the risk difference;
`cascade` — the number of cascades the test rooted in the week.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .cascades import Cascade, cascade_followers, detect_cascades, outage_runs
from .columns import of_runs
from .data import SKIPPED, Execution, RunMeta, TestRun, group_test_runs, is_fail
from .evidence import MAX_CELL_RUNS, MAX_EVIDENCE_RUNS
from .flaky import (
    CONFIRMED,
    SUSPECTED,
    FlakyResult,
    FlakyTestStatus,
    SeriesStats,
    find_flaky_results,
    flaky_test_statuses,
    reference_series,
)
from .order import VictimResult, infer_order_dependence
from .params import MetricParams, history_days

FLAKY = "flaky"
ORDER_DEPENDENT = "order_dependent"
CASCADE = "cascade"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # FLAKY, ORDER_DEPENDENT or CASCADE
    test: int
    related_test: int | None  # the polluter for ORDER_DEPENDENT
    score: float
    evidence: dict[str, object]  # JSON-serialisable
    first_run: int
    last_run: int


@dataclass(frozen=True, slots=True)
class AttributedFlakyResult:
    result: FlakyResult
    cause: str  # FLAKY, ORDER_DEPENDENT or CASCADE


@dataclass(frozen=True)
class IsolationResult:
    score: float | None  # 100 × clean_runs / runs; None without runs
    runs: int  # non-outage runs of the week
    clean_runs: int
    outage_runs: tuple[int, ...]  # the week's outage runs
    unclean_runs: tuple[tuple[int, tuple[str, ...]], ...]  # (run id, causes), by run start
    tests_executed: int
    flaky_tests: int
    flaky_test_ratio: float | None
    victims: int
    polluters: int
    timelines: int
    cascade_timelines: int
    cascade_timeline_ratio: float | None
    failed_first_attempts: int
    isolation_failures: int
    noise_share: float | None
    decided: int
    flaky_result_count: int
    flake_rate: float | None
    findings: tuple[Finding, ...]
    # Details for drill-down and for the other metrics (regressions read cascade_followers).
    flaky_results: tuple[AttributedFlakyResult, ...] = field(repr=False)
    statuses: Mapping[int, FlakyTestStatus] = field(repr=False)
    # flip rate and entropy per test over its last suspect_runs reference-branch first attempts
    series: Mapping[int, SeriesStats] = field(repr=False)
    victims_found: tuple[VictimResult, ...] = field(repr=False)
    cascades: tuple[Cascade, ...] = field(repr=False)
    cascade_followers: frozenset[tuple[int, int]] = field(repr=False)
    explained_failures: frozenset[tuple[int, int]] = field(repr=False)
    all_outage_runs: frozenset[int] = field(repr=False)

    def components(self) -> dict[str, object]:
        """The published numbers, JSON-serialisable."""
        return {
            "isolation_score": self.score,
            "runs": self.runs,
            "clean_runs": self.clean_runs,
            "outage_runs": len(self.outage_runs),
            "tests_executed": self.tests_executed,
            "flaky_tests": self.flaky_tests,
            "flaky_test_ratio": self.flaky_test_ratio,
            "victims": self.victims,
            "polluters": self.polluters,
            "timelines": self.timelines,
            "cascade_timelines": self.cascade_timelines,
            "cascade_timeline_ratio": self.cascade_timeline_ratio,
            "failed_first_attempts": self.failed_first_attempts,
            "isolation_failures": self.isolation_failures,
            "noise_share": self.noise_share,
            "decided": self.decided,
            "flaky_results": self.flaky_result_count,
            "flake_rate": self.flake_rate,
        }


def history_start(as_of: dt.datetime, params: MetricParams) -> dt.datetime:
    """Earliest run start the caller must load so every window ending at `as_of` is complete
    (params.history_days)."""
    return as_of - dt.timedelta(days=history_days(params))


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def analyze_isolation(
    runs: Mapping[int, RunMeta],
    executions: Sequence[Execution],
    *,
    week_start: dt.datetime,
    week_end: dt.datetime,
    as_of: dt.datetime | None = None,
    params: MetricParams | None = None,
    test_runs: Sequence[TestRun] | None = None,
    outages: frozenset[int] | None = None,
    later_passes: Mapping[tuple[str, int], Sequence[tuple[dt.datetime, int]]] | None = None,
) -> IsolationResult:
    """Isolation score, its components and findings for one service and week.

    `runs` and `executions` are one service's history from history_start(as_of) on. `as_of`
    defaults to `week_end`. Deterministic: input order never changes the output. A caller that
    already judged the runs (cascades.outage_runs, a verdict per run) passes the outage runs.
    `later_passes`: same-commit evidence from runs after `as_of` (flaky.find_flaky_results).
    """
    params = params or MetricParams()
    as_of = as_of or week_end
    known = {rid: runs[rid] for rid in sorted(runs) if runs[rid].started_at < as_of}

    def run_key(rid: int) -> tuple[dt.datetime, int]:
        return (known[rid].started_at, rid)

    # Order of test_runs does not matter below: every function sorts what it returns.
    # A caller that already grouped the executions (of runs before as_of) passes test_runs.
    if test_runs is None:
        test_runs = group_test_runs([e for e in executions if e.run in known])
    else:
        test_runs = of_runs(test_runs, known.keys())
    if outages is None:
        outages = outage_runs(test_runs, params=params)
    else:
        outages = frozenset(outages & known.keys())

    raw_flaky = find_flaky_results(
        known, test_runs, as_of=as_of, params=params, exclude_runs=outages,
        later_passes=later_passes,
    )  # fmt: skip
    cascades = detect_cascades(known, test_runs, as_of=as_of, params=params, exclude_runs=outages)
    followers = cascade_followers(cascades)
    victims = infer_order_dependence(
        known, test_runs, as_of=as_of, params=params, exclude_runs=outages
    )
    explained = frozenset((r, v.victim) for v in victims for r in v.explained_runs)

    def cause_of(pair: tuple[int, int]) -> str:
        if pair in explained:
            return ORDER_DEPENDENT
        if pair in followers:
            return CASCADE
        return FLAKY

    attributed = tuple(AttributedFlakyResult(fr, cause_of((fr.run, fr.test))) for fr in raw_flaky)
    series = reference_series(
        known,
        test_runs,
        as_of=as_of,
        params=params,
        exclude_runs=outages,
        ignore_failures=explained | followers,
    )
    statuses = flaky_test_statuses(
        known,
        test_runs,
        [x.result for x in attributed if x.cause == FLAKY],
        as_of=as_of,
        params=params,
        exclude_runs=outages,
        ignore_failures=explained | followers,
        series=series,
    )

    # --- the week
    week_runs = [rid for rid in known if week_start <= known[rid].started_at < week_end]
    week_outages = tuple(sorted((r for r in week_runs if r in outages), key=run_key))
    scored = sorted((r for r in week_runs if r not in outages), key=run_key)
    scored_set = set(scored)
    week_trs = [tr for tr in test_runs if tr.run in scored_set]

    causes: dict[int, set[str]] = defaultdict(set)
    for x in attributed:
        if x.result.run in scored_set:
            causes[x.result.run].add(x.cause)
    for run, _test in explained:
        if run in scored_set:
            causes[run].add(ORDER_DEPENDENT)
    week_cascades = [c for c in cascades if c.run in scored_set]
    for c in week_cascades:
        causes[c.run].add(CASCADE)
    unclean = tuple((r, tuple(sorted(causes[r]))) for r in scored if causes.get(r))

    executed = {tr.test for tr in week_trs if tr.first != SKIPPED}
    flaky_now = {t for t, s in statuses.items() if s.status in (CONFIRMED, SUSPECTED)}
    victim_ids = {v.victim for v in victims}
    polluter_ids = {p.polluter for v in victims for p in v.polluters}

    flaky_pairs = {(x.result.run, x.result.test) for x in attributed}
    failed = [(tr.run, tr.test) for tr in week_trs if is_fail(tr.first)]
    noise = sum(
        1 for pair in failed if pair in explained or pair in followers or pair in flaky_pairs
    )
    timelines = {(tr.run, tr.timeline) for tr in week_trs if tr.first != SKIPPED}
    cascade_timelines = {(c.run, c.timeline) for c in week_cascades}
    decided = sum(1 for tr in week_trs if tr.first != SKIPPED)
    week_flaky = sum(1 for x in attributed if x.result.run in scored_set)

    findings = (
        _flaky_findings(
            known,
            statuses,
            flaky_now,
            attributed,
            since=as_of - dt.timedelta(days=params.flaky_window_days),
        )  # fmt: skip
        + _order_findings(known, victims)
        + _cascade_findings(known, week_cascades)
    )

    return IsolationResult(
        score=100.0 * (len(scored) - len(unclean)) / len(scored) if scored else None,
        runs=len(scored),
        clean_runs=len(scored) - len(unclean),
        outage_runs=week_outages,
        unclean_runs=unclean,
        tests_executed=len(executed),
        flaky_tests=len(flaky_now & executed),
        flaky_test_ratio=_ratio(len(flaky_now & executed), len(executed)),
        victims=len(victim_ids & executed),
        polluters=len(polluter_ids & executed),
        timelines=len(timelines),
        cascade_timelines=len(cascade_timelines),
        cascade_timeline_ratio=_ratio(len(cascade_timelines), len(timelines)),
        failed_first_attempts=len(failed),
        isolation_failures=noise,
        noise_share=_ratio(noise, len(failed)),
        decided=decided,
        flaky_result_count=week_flaky,
        flake_rate=_ratio(week_flaky, decided),
        findings=tuple(findings),
        flaky_results=attributed,
        statuses=statuses,
        series=series,
        victims_found=tuple(victims),
        cascades=tuple(cascades),
        cascade_followers=followers,
        explained_failures=explained,
        all_outage_runs=outages,
    )


def _flaky_findings(
    runs: Mapping[int, RunMeta],
    statuses: Mapping[int, FlakyTestStatus],
    flaky_now: set[int],
    attributed: Sequence[AttributedFlakyResult],
    *,
    since: dt.datetime,
) -> list[Finding]:
    """`reasons` and `results` are of the flaky window (from `since`), as the flake rate is: the
    reasons add up to flaky_results_in_window."""
    by_test: dict[int, list[FlakyResult]] = defaultdict(list)
    for x in attributed:
        if x.cause == FLAKY:
            by_test[x.result.test].append(x.result)
    out: list[Finding] = []
    for test in sorted(flaky_now):
        s = statuses[test]
        every = sorted(by_test.get(test, []), key=lambda fr: (runs[fr.run].started_at, fr.run))
        results = [fr for fr in every if runs[fr.run].started_at >= since]
        evidence: dict[str, object] = {
            "status": s.status,
            "flaky_results_in_window": s.window_flaky_results,
            "decided_in_window": s.window_decided,
            "flake_rate": s.window_flake_rate,
            "passing_streak": s.passing_streak,
            "reasons": {
                reason: sum(1 for fr in results if fr.reason == reason)
                for reason in sorted({fr.reason for fr in results})
            },
            "results": [
                {"run": fr.run, "reason": fr.reason, "evidence_run": fr.evidence_run}
                for fr in results[-MAX_EVIDENCE_RUNS:]
            ],
            "series": s.series.evidence() if s.series else None,
        }
        if s.status == SUSPECTED:
            assert s.series is not None
            score = s.series.flip_rate
            failing = [r for r, f in zip(s.series.runs, s.series.failed, strict=True) if f]
            first_run, last_run = failing[0], failing[-1]
        else:  # confirmed: by its flaky results (older ones when none is in the window)
            score = s.window_flake_rate or 0.0
            first_run, last_run = (results or every)[0].run, (results or every)[-1].run
        out.append(Finding(FLAKY, test, None, score, evidence, first_run, last_run))
    return out


def _order_findings(runs: Mapping[int, RunMeta], victims: Sequence[VictimResult]) -> list[Finding]:
    """One finding per (victim, polluter). Its evidence lists the runs of each cell of the 2×2
    table (`cell_runs`, the latest MAX_CELL_RUNS of a cell in run start order): the pages' links
    from a cell to its runs read them, so a cell's runs are those order.py counted, once."""

    def by_start(ids: Sequence[int]) -> list[int]:
        return sorted(ids, key=lambda r: (runs[r].started_at, r))

    out: list[Finding] = []
    for v in victims:
        for p in v.polluters:
            explained = by_start(p.explained_runs)
            evidence = p.evidence()
            evidence["victim_failures"] = v.failures
            evidence["victim_passes"] = v.passes
            evidence["explained_runs"] = explained[-MAX_EVIDENCE_RUNS:]
            evidence["cell_runs"] = {
                cell: by_start(ids)[-MAX_CELL_RUNS:]
                for cell, ids in zip("abcd", p.cell_runs, strict=True)
            }
            out.append(
                Finding(
                    ORDER_DEPENDENT,
                    v.victim,
                    p.polluter,
                    round(p.risk_difference, 6),
                    evidence,
                    explained[0],
                    explained[-1],
                )
            )
    return out


def _cascade_findings(runs: Mapping[int, RunMeta], cascades: Sequence[Cascade]) -> list[Finding]:
    by_root: dict[int, list[Cascade]] = defaultdict(list)
    for c in cascades:
        by_root[c.root].append(c)
    out: list[Finding] = []
    for root in sorted(by_root):
        items = sorted(by_root[root], key=lambda c: (runs[c.run].started_at, c.run, c.timeline))
        evidence: dict[str, object] = {
            "cascades": [c.evidence() for c in items[-MAX_EVIDENCE_RUNS:]],
            "count": len(items),
            "followers": sum(len(c.followers) for c in items),  # follower failures
            "follower_tests": len({t for c in items for t in c.followers}),
        }
        out.append(
            Finding(CASCADE, root, None, float(len(items)), evidence, items[0].run, items[-1].run)
        )
    return out
