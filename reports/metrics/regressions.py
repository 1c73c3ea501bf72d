"""Outcome regressions and fixed tests on the reference branch (DESIGN.md "regression").

Per test, its reference-branch test-runs are ordered by run start (then run id) and read as:
- pass: the first attempt passed;
- failure: every attempt failed (first attempt failed and no later attempt passed);
- mixed: the first attempt failed but a retry passed (a flaky result: neither pass nor failure
  for the rules below, but it breaks a run of passes);
- nothing: a skipped first attempt, a run in `outage_runs`, or a (run, test) in
  `cascade_followers` — these were decided by something other than the test's own code.

Rules:
- A **regression** opens at the first failure at commit c when the test's last
  regression_baseline_runs observations were all passes, the test is not in `flaky_tests`, and no
  reference-branch run of the same commit passed it on its first attempt within
  same_commit_days (that failure would be a flaky result by DESIGN's definition, whatever the
  flaky set says today). c is the culprit candidate; the finding belongs to the week of the
  first failing run.
- It is **confirmed** when the test fails again at c or at the next commit, the first commit
  other than c the test was observed on after the opening failure.
- It is **resolved** at the fixed_passes-th consecutive pass; the first pass of that streak is
  the fixing run. A confirmed regression then also yields a **fixed** finding (attributed to the
  week of the fixing run). An unconfirmed one — a single failure that went away — is resolved
  without a fixed finding: one blip then passes is not a fix worth announcing.
- A test whose first observation is a failure was **broken from the start**: never a regression,
  but it yields a fixed finding when it passes fixed_passes times in a row.
- Tests in `flaky_tests` yield no findings here; their recovery is the flaky clearing rule.

The result is a function of the test's whole history: the same history gives the same findings,
in the same order, whoever calls and however often, so a recompute can diff against stored rows.
A caller computing a window that starts at `since` passes `since`, the window's history and,
for the tests `earlier_history_needed` names, their history before it, as far back as that asks:
an episode that began before the window and ends or goes on in it is then found whole, from its
first failure after its last pass, and a regression still open is written again with its failures
so far. Findings of episodes over before `since`, and of open regressions with no failure since,
are left out: the windows that held them wrote them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .data import ERROR, FAILED, PASSED, SKIPPED, RunMeta, TestRun, is_fail
from .params import MetricParams

REGRESSION = "regression"
FIXED = "fixed"
OPEN = "open"
RESOLVED = "resolved"

# Evidence lists are capped: a test broken for a year would otherwise carry thousands of run ids.
_EVIDENCE_RUNS = 20

_PASS, _FAILURE, _MIXED = "pass", "failure", "mixed"
_FAIL_CODES = frozenset((FAILED, ERROR))


@dataclass(frozen=True, slots=True)
class Observation:
    run: int
    commit: str
    started_at: dt.datetime
    result: str  # _PASS, _FAILURE or _MIXED


@dataclass(frozen=True, slots=True)
class RegressionFinding:
    kind: str  # REGRESSION or FIXED
    test: int
    status: str  # OPEN or RESOLVED; a FIXED finding is always RESOLVED (it records an ending)
    first_run: int  # regression: first failing run; fixed: first pass of the fixing streak
    last_run: int  # regression: last failing run; fixed: the pass that completed the streak
    commit: str  # regression: culprit candidate c; fixed: commit of the fixing run
    started_at: dt.datetime  # start of first_run: the week the finding belongs to
    confirmed: bool  # regression confirmed (for FIXED: the regression it ends was confirmed)
    first_failing_run: int
    first_failing_commit: str
    last_passing_run: int | None  # last pass before the first failure; None if broken from start
    last_passing_commit: str | None
    fixing_run: int | None  # first pass of the streak that resolved it
    fixing_commit: str | None
    evidence: dict[str, object] = field(default_factory=dict, compare=True)


@dataclass(slots=True)
class _Broken:
    """A failure episode being followed: an open regression or a broken-from-start test."""

    from_start: bool
    opening: Observation
    last_pass: Observation | None
    baseline: list[int]
    failures: list[Observation]
    confirm_commits: set[str]
    next_commit_seen: bool = False
    confirmed_by: int | None = None
    began_before: bool = False  # from_start, but the observations do not reach the first run


def observe(
    history: Iterable[tuple[RunMeta, TestRun]],
    *,
    cascade_followers: Collection[tuple[int, int]] = (),
    outage_runs: Collection[int] = (),
    reference_branch: str,
) -> list[Observation]:
    """The ordered observations of one test's history (see the module docstring)."""
    out = []
    for run, tr in history:
        if run.branch != reference_branch or run.id in outage_runs:
            continue
        if (run.id, tr.test) in cascade_followers or tr.first == SKIPPED:
            continue
        if tr.first == PASSED:
            result = _PASS
        elif is_fail(tr.first) and is_fail(tr.final) and not tr.passed_on_retry:
            result = _FAILURE
        else:
            result = _MIXED
        out.append(Observation(run.id, run.commit, run.started_at, result))
    out.sort(key=lambda o: (o.started_at, o.run))
    return out


def failed_observed(
    test_runs: Iterable[TestRun],
    runs: Mapping[int, RunMeta],
    *,
    cascade_followers: Collection[tuple[int, int]],
    outage_runs: Collection[int],
    reference_branch: str,
) -> set[int]:
    """The tests with a first attempt that failed where `observe` sees it (on the reference
    branch, outside outage runs, not as a cascade follower). Any other test is observed to pass
    or not at all: findings_for_test finds nothing in such observations, and
    earlier_history_needed asks nothing before them unless asked for every fix (all_fixes)."""
    return {
        tr.test
        for tr in test_runs
        if tr.first in _FAIL_CODES
        and tr.run not in outage_runs
        and runs[tr.run].branch == reference_branch
        and (tr.run, tr.test) not in cascade_followers
    }


def _passed_same_commit(
    obs: Observation, passes_by_commit: Mapping[str, list[dt.datetime]], days: int
) -> bool:
    window = dt.timedelta(days=days)
    return any(abs(t - obs.started_at) <= window for t in passes_by_commit.get(obs.commit, ()))


def earlier_history_needed(
    observations: Sequence[Observation],
    *,
    since: dt.datetime,
    params: MetricParams,
    all_fixes: bool = True,
    extend_open: bool = True,
) -> bool:
    """Whether the test's findings from `since` on, read from these observations (ordered), could
    differ from those of its whole history because of observations before the first one.

    The observations are read as findings_for_test reads them, from a state that is not known:
    an episode that began earlier may be going on, the first passes may continue a streak, a pass
    of a failure's commit may have come before. The answer is True as soon as an opening or a fix
    at or after `since`, or a failure at or after it that may extend an open regression, depends
    on that state. With all_fixes False, a fix at or after `since` of
    an episode whose every failure came before the first observation may go unseen: read from a
    first observation that passed, it is not found, and nothing is found wrong. With extend_open
    False, failures that may extend an open regression ask for nothing: a caller that knows the
    test has no open regression (none was written) need not read back a test broken since long
    before, which yields no finding.
    """
    if not observations:
        return False
    baseline, fixed_passes = params.regression_baseline_runs, params.fixed_passes
    same_commit = dt.timedelta(days=params.same_commit_days)
    seen_from = observations[0].started_at
    passes_by_commit: dict[str, list[dt.datetime]] = {}
    for o in observations:
        if o.result == _PASS:
            passes_by_commit.setdefault(o.commit, []).append(o.started_at)
    unknown = True  # an episode that began before the first observation may be going on
    broken = False  # an episode that opened among the observations is going on
    streak, counted = 0, False  # passes in a row; counted: the streak began among them
    for o in observations:
        now = o.started_at >= since
        if o.result == _PASS:
            streak += 1
            # A streak begun before the first observation may reach fixed_passes at any of its
            # first passes here.
            if unknown and now and streak <= fixed_passes:
                if (counted and streak == fixed_passes) or (not counted and all_fixes):
                    return True
            if streak == fixed_passes:
                unknown = broken = False
            continue
        if o.result == _FAILURE and not broken:
            if not _passed_same_commit(o, passes_by_commit, params.same_commit_days):
                may_open = streak >= baseline or not counted
                opens = not unknown and streak >= baseline
                if opens and o.started_at - same_commit >= seen_from:
                    broken = True
                elif may_open:
                    if now:
                        return True
                    unknown = True
            if extend_open and now and unknown and not broken:
                return True  # it may extend an open regression whose opening is not known
        streak, counted = 0, True
    return False


def findings_for_test(
    test: int,
    observations: list[Observation],
    *,
    flaky: bool,
    params: MetricParams,
    since: dt.datetime | None = None,
    began_before: bool = False,
) -> list[RegressionFinding]:
    """Regression and fixed findings of one test from its ordered observations (`since`: see the
    module docstring). `began_before`: the observations do not reach back to the test's first
    run, so failures from the first one on are an episode that began before them."""
    if flaky or not observations:
        return []
    passes_by_commit: dict[str, list[dt.datetime]] = {}
    for o in observations:
        if o.result == _PASS:
            passes_by_commit.setdefault(o.commit, []).append(o.started_at)

    findings: list[RegressionFinding] = []
    streak: list[Observation] = []  # consecutive passes up to now
    last_pass: Observation | None = None
    broken: _Broken | None = None
    for i, o in enumerate(observations):
        if broken is not None and not broken.next_commit_seen and o.commit != broken.opening.commit:
            # The first commit after c the test was observed on, whatever its result, is "the
            # next commit": a failure there confirms, a failure on any later one does not.
            broken.confirm_commits.add(o.commit)
            broken.next_commit_seen = True
        if o.result == _PASS:
            streak.append(o)
            last_pass = o
            if broken is not None and len(streak) >= params.fixed_passes:
                if since is None or o.started_at >= since:
                    findings.extend(_close(test, broken, streak))
                broken = None
            continue

        if broken is None:
            flaky_here = _passed_same_commit(o, passes_by_commit, params.same_commit_days)
            if o.result == _FAILURE and not flaky_here:
                if i == 0:
                    broken = _Broken(True, o, None, [], [o], {o.commit}, began_before=began_before)
                elif len(streak) >= params.regression_baseline_runs:
                    baseline = [p.run for p in streak[-params.regression_baseline_runs :]]
                    broken = _Broken(False, o, last_pass, baseline, [o], {o.commit})
        elif o.result == _FAILURE:
            broken.failures.append(o)
            if broken.confirmed_by is None and o.commit in broken.confirm_commits:
                broken.confirmed_by = o.run
        streak = []

    if broken is not None and not broken.from_start:
        # Still open: its evidence grows with every failure, so a window its failures reach
        # writes it again, wherever it opened.
        if since is None or broken.failures[-1].started_at >= since:
            findings.append(_regression(test, broken, None))
    return findings


def _close(test: int, broken: _Broken, streak: list[Observation]) -> list[RegressionFinding]:
    out = []
    if not broken.from_start:
        out.append(_regression(test, broken, streak))
    if broken.from_start or broken.confirmed_by is not None:
        fixing, done = streak[0], streak[-1]
        opening = broken.opening
        out.append(
            RegressionFinding(
                kind=FIXED,
                test=test,
                status=RESOLVED,
                first_run=fixing.run,
                last_run=done.run,
                commit=fixing.commit,
                started_at=fixing.started_at,
                confirmed=broken.confirmed_by is not None,
                first_failing_run=opening.run,
                first_failing_commit=opening.commit,
                last_passing_run=broken.last_pass.run if broken.last_pass else None,
                last_passing_commit=broken.last_pass.commit if broken.last_pass else None,
                fixing_run=fixing.run,
                fixing_commit=fixing.commit,
                evidence={
                    "broken_since_first_run": broken.from_start and not broken.began_before,
                    # The episode began before this run, the earliest read; failures count from it.
                    **({"broken_before_run": opening.run} if broken.began_before else {}),
                    "first_failing_run": opening.run,
                    "failures": len(broken.failures),
                    "failing_runs": [f.run for f in broken.failures[:_EVIDENCE_RUNS]],
                    "passing_runs": [p.run for p in streak],
                },
            )
        )
    return out


def _regression(test: int, broken: _Broken, streak: list[Observation] | None) -> RegressionFinding:
    opening = broken.opening
    fixing = streak[0] if streak else None
    return RegressionFinding(
        kind=REGRESSION,
        test=test,
        status=RESOLVED if streak else OPEN,
        first_run=opening.run,
        last_run=broken.failures[-1].run,
        commit=opening.commit,
        started_at=opening.started_at,
        confirmed=broken.confirmed_by is not None,
        first_failing_run=opening.run,
        first_failing_commit=opening.commit,
        last_passing_run=broken.last_pass.run if broken.last_pass else None,
        last_passing_commit=broken.last_pass.commit if broken.last_pass else None,
        fixing_run=fixing.run if fixing else None,
        fixing_commit=fixing.commit if fixing else None,
        evidence={
            "commit": opening.commit,
            "baseline_runs": broken.baseline,
            "failures": len(broken.failures),
            "failing_runs": [f.run for f in broken.failures[:_EVIDENCE_RUNS]],
            "confirmed_by_run": broken.confirmed_by,
            "fixing_runs": [p.run for p in streak] if streak else [],
        },
    )


def regression_findings(
    runs: Mapping[int, RunMeta] | Iterable[RunMeta],
    test_runs: Iterable[TestRun],
    *,
    flaky_tests: Collection[int],
    cascade_followers: Collection[tuple[int, int]],
    outage_runs: Collection[int],
    params: MetricParams,
    since: dt.datetime | None = None,
    read_in_part: Collection[int] = (),
) -> list[RegressionFinding]:
    """Findings of every test in `test_runs`, ordered by test then time. `read_in_part`: tests
    whose test-runs here do not reach back to their first run (see findings_for_test).

    Pass each test's whole reference-branch history (runs of other branches are ignored here),
    or, with `since`, its history from `since` on and before it as far as
    `earlier_history_needed` asks; `runs` must cover every run the test-runs refer to.
    """
    by_id = runs if isinstance(runs, Mapping) else {r.id: r for r in runs}
    flaky = set(flaky_tests)
    test_runs = list(test_runs)
    followers = set(cascade_followers)
    outages = set(outage_runs)
    # A test observed to fail nowhere (see failed_observed) has only passes: no episode can open.
    # Flaky tests yield nothing here. Only the rest need their observations.
    failing = failed_observed(
        test_runs, by_id, cascade_followers=followers, outage_runs=outages,
        reference_branch=params.reference_branch,
    ) - flaky  # fmt: skip
    by_test: dict[int, list[tuple[RunMeta, TestRun]]] = {}
    for tr in test_runs:
        if tr.test in failing:
            by_test.setdefault(tr.test, []).append((by_id[tr.run], tr))
    in_part = set(read_in_part)
    out: list[RegressionFinding] = []
    for test in sorted(by_test):
        observations = observe(
            by_test[test],
            cascade_followers=followers,
            outage_runs=outages,
            reference_branch=params.reference_branch,
        )
        out.extend(
            findings_for_test(test, observations, flaky=test in flaky, params=params, since=since,
                              began_before=test in in_part)
        )  # fmt: skip
    return out


def removed_at(
    last_seen: RunMeta, later: Iterable[RunMeta], params: MetricParams
) -> dt.datetime | None:
    """When a test whose last result on the reference branch came in run `last_seen` counts as
    removed (deleted or renamed): removed_after_days after that run, and not before the
    service's reference-branch runs without it reached removed_after_commits commits other than
    that run's; None while they have not. `later`: the service's reference-branch runs started
    after `last_seen` (none of them has the test), in any order.

    An open regression of a removed test is resolved as removed, without a fixed finding: it was
    never seen passing again. A shard that did not upload, a run that stopped early or a branch
    of CI that skips the test for a few days does not make it removed; a test skipped on every
    run is not removed either (a skipped result is a result)."""
    commits: set[str] = {last_seen.commit}
    reached: dt.datetime | None = None
    for run in sorted(later, key=lambda r: (r.started_at, r.id)):
        if run.started_at <= last_seen.started_at or run.commit in commits:
            continue
        commits.add(run.commit)
        if len(commits) - 1 >= params.removed_after_commits:
            reached = run.started_at
            break
    if reached is None:
        return None
    return max(reached, last_seen.started_at + dt.timedelta(days=params.removed_after_days))


def removed_week(evidence: Mapping[str, object]) -> dt.date | None:
    """The Monday of the week an episode's test counted as removed, from the `removed` its
    evidence records (see removed_at), if it does."""
    removed = evidence.get("removed")
    if not isinstance(removed, dict):
        return None
    try:
        at = dt.datetime.fromisoformat(str(removed.get("removed_at")))
    except ValueError:
        return None
    day = at.astimezone(dt.UTC).date()
    return day - dt.timedelta(days=day.weekday())
