"""Regressions and fixed tests on hand-made reference-branch histories.

A history is written one character per run: P passed, F failed on every attempt (two attempts),
E error, R failed then passed on retry, S skipped. Run i is commit c<i> unless commits are given.
"""

from __future__ import annotations

import datetime as dt
import random

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
from reports.metrics.params import MetricParams
from reports.metrics.regressions import (
    FIXED,
    OPEN,
    REGRESSION,
    RESOLVED,
    RegressionFinding,
    earlier_history_needed,
    failed_observed,
    observe,
    regression_findings,
    removed_at,
)

PARAMS = MetricParams()
T0 = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
ATTEMPTS = {
    "P": [PASSED],
    "F": [FAILED, FAILED],
    "E": [ERROR],
    "R": [FAILED, PASSED],
    "S": [SKIPPED],
}


def history(
    spec: str,
    *,
    test: int = 1,
    start: int = 0,
    commits: list[str] | None = None,
    branch: str = "main",
    step: dt.timedelta = dt.timedelta(hours=1),
) -> tuple[list[RunMeta], list[TestRun]]:
    runs, executions = [], []
    for i, ch in enumerate(spec):
        run = start + i
        commit = commits[i] if commits else f"c{run}"
        runs.append(RunMeta(run, commit, branch, T0 + step * run))
        for attempt, outcome in enumerate(ATTEMPTS[ch], start=1):
            executions.append(Execution(run, test, attempt, outcome, 10, "w0", 0))
    return runs, group_test_runs(executions)


def findings(
    runs: list[RunMeta],
    test_runs: list[TestRun],
    *,
    flaky: set[int] | None = None,
    followers: set[tuple[int, int]] | None = None,
    outages: set[int] | None = None,
    since: dt.datetime | None = None,
) -> list[RegressionFinding]:
    return regression_findings(
        runs,
        test_runs,
        flaky_tests=flaky or set(),
        cascade_followers=followers or set(),
        outage_runs=outages or set(),
        params=PARAMS,
        since=since,
    )


def test_a_regression_later_fixed_is_resolved_with_a_fixed_finding() -> None:
    # runs:   0-4 pass, 5-6 fail, 7-9 pass
    regression, fixed = findings(*history("PPPPPFFPPP"))
    assert regression.kind == REGRESSION and regression.status == RESOLVED
    assert (regression.first_run, regression.last_run, regression.commit) == (5, 6, "c5")
    assert regression.started_at == T0 + dt.timedelta(hours=5)
    assert regression.confirmed  # failed again at the next commit
    assert (regression.last_passing_run, regression.last_passing_commit) == (4, "c4")
    assert (regression.fixing_run, regression.fixing_commit) == (7, "c7")
    assert regression.evidence["baseline_runs"] == [0, 1, 2, 3, 4]
    assert regression.evidence["failing_runs"] == [5, 6]
    assert regression.evidence["confirmed_by_run"] == 6
    assert regression.evidence["fixing_runs"] == [7, 8, 9]

    assert fixed.kind == FIXED and fixed.status == RESOLVED
    # Attributed to the first pass of the streak, completed by the third.
    assert (fixed.first_run, fixed.last_run, fixed.commit) == (7, 9, "c7")
    assert fixed.first_failing_run == 5 and fixed.fixing_run == 7
    assert fixed.evidence["broken_since_first_run"] is False


def test_it_needs_five_passes_before_the_failure() -> None:
    assert findings(*history("PPPPFFFF")) == []
    [regression] = findings(*history("PPPPPFFFF"))
    assert regression.first_run == 5 and regression.status == OPEN


def test_a_single_failure_is_an_open_unconfirmed_regression() -> None:
    [regression] = findings(*history("PPPPPPF"))
    assert (regression.status, regression.confirmed, regression.first_run) == (OPEN, False, 6)
    assert regression.fixing_run is None
    assert regression.evidence["confirmed_by_run"] is None


def test_a_failure_on_the_same_commit_confirms() -> None:
    commits = ["a", "b", "c", "d", "e", "f", "f"]
    [regression] = findings(*history("PPPPPFF", commits=commits))
    assert regression.confirmed and regression.evidence["confirmed_by_run"] == 6


def test_a_failure_two_commits_later_does_not_confirm() -> None:
    # Fails at c5, passes at c6 (the next commit), fails at c7: not a confirmation.
    [regression] = findings(*history("PPPPPFPF"))
    assert not regression.confirmed and regression.status == OPEN
    assert regression.last_run == 7  # the episode goes on; the pass at c6 was one of a streak


def test_an_unconfirmed_blip_resolves_without_a_fixed_finding() -> None:
    [regression] = findings(*history("PPPPPFPPP"))
    assert regression.status == RESOLVED and not regression.confirmed
    assert regression.fixing_run == 6


def test_a_test_broken_from_its_first_run_is_only_ever_fixed() -> None:
    [fixed] = findings(*history("FFFFPPP"))
    assert fixed.kind == FIXED
    assert (fixed.first_run, fixed.last_run, fixed.first_failing_run) == (4, 6, 0)
    assert fixed.last_passing_run is None
    assert fixed.evidence["broken_since_first_run"] is True
    assert fixed.evidence["failures"] == 4
    # Still broken: nothing yet.
    assert findings(*history("FFFFPP")) == []
    # Two passes, a failure, then three passes: the fix is the last streak.
    [fixed] = findings(*history("FFPPFPPP"))
    assert fixed.first_run == 5


def test_after_a_fix_a_new_regression_needs_a_fresh_baseline() -> None:
    # Broken from the start, fixed at 2-4, five passes (2-6), then a confirmed regression at 7.
    result = findings(*history("FFPPPPPFF"))
    assert [(f.kind, f.status, f.first_run) for f in result] == [
        (FIXED, RESOLVED, 2),
        (REGRESSION, OPEN, 7),
    ]
    # Only four passes after the fix: the failure at 6 is not a regression.
    assert [f.kind for f in findings(*history("FFPPPPFF"))] == [FIXED]


def test_a_flaky_test_has_no_findings() -> None:
    assert findings(*history("PPPPPFFPPP"), flaky={1}) == []
    assert findings(*history("FFFPPP"), flaky={1}) == []
    assert len(findings(*history("PPPPPFFPPP"), flaky={2})) == 2


def test_a_failure_passed_on_retry_is_not_a_regression() -> None:
    assert findings(*history("PPPPPRRR")) == []
    # ...and it breaks the baseline: the last five before the failure include a retry pass.
    assert findings(*history("PPPPPRPPPPF")) == []
    # ...and it breaks a fixing streak.
    regression, fixed = findings(*history("PPPPPFFPPRPPP"))
    assert regression.fixing_run == 10 and fixed.first_run == 10


def test_errors_count_as_failures() -> None:
    [regression, fixed] = findings(*history("PPPPPEEPPP"))
    assert regression.confirmed and fixed.first_run == 7


def test_skipped_runs_are_transparent() -> None:
    [regression] = findings(*history("PPSPPPSF"))
    assert regression.first_run == 7
    assert regression.evidence["baseline_runs"] == [0, 1, 3, 4, 5]
    assert regression.last_passing_run == 5


def test_a_cascade_follower_failure_is_ignored() -> None:
    runs, test_runs = history("PPPPPFPPP")
    assert findings(runs, test_runs, followers={(5, 1)}) == []
    # The follower is neither a pass nor a failure: four passes and it do not make a baseline.
    runs, test_runs = history("PPPPFF")
    assert findings(runs, test_runs, followers={(4, 1)}) == []
    # A follower of another test in the same run changes nothing for this one.
    runs, test_runs = history("PPPPPFF")
    assert len(findings(runs, test_runs, followers={(5, 2)})) == 1


def test_an_outage_run_is_ignored() -> None:
    runs, test_runs = history("PPPPPFPPP")
    assert findings(runs, test_runs, outages={5}) == []
    # Confirmation cannot come from an outage run either.
    runs, test_runs = history("PPPPPFF")
    [regression] = findings(runs, test_runs, outages={6})
    assert not regression.confirmed and regression.last_run == 5


def test_a_pass_on_the_same_commit_makes_the_failure_flaky_not_a_regression() -> None:
    commits = ["a", "b", "c", "d", "e", "f", "f"]
    assert findings(*history("PPPPPFP", commits=commits)) == []
    # The rerun may come first.
    assert findings(*history("PPPPPPF", commits=commits)) == []


def test_other_branches_are_ignored() -> None:
    runs, test_runs = history("PPPPP")
    more_runs, more = history("FF", start=5, branch="feature")
    assert findings(runs + more_runs, test_runs + more) == []


def test_a_renamed_test_is_two_ids_without_a_false_regression() -> None:
    # Test 1 is renamed to test 2 at run 7: 1 stops appearing, 2 starts passing.
    old_runs, old = history("PPPPPPP", test=1)
    new_runs, new = history("PPPP", test=2, start=7)
    assert findings(old_runs + new_runs, old + new) == []
    # The new id starting in a failing state is "broken from the start", not a regression.
    new_runs, new = history("FPPP", test=2, start=7)
    [fixed] = findings(old_runs + new_runs, old + new)
    assert (fixed.test, fixed.kind, fixed.first_run) == (2, FIXED, 8)


def test_findings_are_the_same_whatever_the_input_order() -> None:
    runs_a, trs_a = history("PPPPPFFPPPPPPFF", test=1)
    runs_b, trs_b = history("FFPPPPPPFPP", test=2, start=100)
    runs, test_runs = runs_a + runs_b, trs_a + trs_b
    first = findings(runs, test_runs)
    assert [(f.test, f.kind, f.status) for f in first] == [
        (1, REGRESSION, RESOLVED),
        (1, FIXED, RESOLVED),
        (1, REGRESSION, OPEN),
        (2, FIXED, RESOLVED),
        (2, REGRESSION, OPEN),
    ]
    for seed in range(5):
        shuffled_runs, shuffled = list(runs), list(test_runs)
        random.Random(seed).shuffle(shuffled_runs)
        random.Random(seed).shuffle(shuffled)
        assert findings(shuffled_runs, shuffled) == first


# --- A window and the history before it -----------------------------------------------------------


# One run a day: a pass of a failure's commit counts for a week (same_commit_days) around it.
DAY = dt.timedelta(days=1)


def _at(run: int) -> dt.datetime:
    return T0 + DAY * run


def _read_back(
    spec: str, window: int, *, all_fixes: bool = True, commits: list[str] | None = None
) -> int:
    """The first run a caller reads when its window starts at run `window`: one run further
    back at a time, for as long as earlier_history_needed asks."""
    runs, test_runs = history(spec, commits=commits, step=DAY)
    first = window
    while first > 0:
        observations = observe(
            zip(runs[first:], test_runs[first:], strict=True), reference_branch="main"
        )
        if not earlier_history_needed(
            observations, since=_at(window), params=PARAMS, all_fixes=all_fixes
        ):
            break
        first -= 1
    return first


def _window(
    spec: str, window: int, *, all_fixes: bool = True, commits: list[str] | None = None
) -> list[RegressionFinding]:
    runs, test_runs = history(spec, commits=commits, step=DAY)
    first = _read_back(spec, window, all_fixes=all_fixes, commits=commits)
    return findings(runs[first:], test_runs[first:], since=_at(window))


def test_a_fix_after_the_window_start_names_the_episode_from_its_first_failure() -> None:
    # runs: 0-14 pass, 15-28 fail, 29-31 pass; the window starts at run 24, in the failures.
    spec = "P" * 15 + "F" * 14 + "PPP"
    # Read back to a week before the first failure: a pass of its commit there would have made
    # it a flaky result, not a regression.
    assert _read_back(spec, 24) == 8
    regression, fixed = _window(spec, 24)
    assert (regression.kind, regression.status, regression.first_run) == (REGRESSION, RESOLVED, 15)
    assert regression.evidence["baseline_runs"] == [10, 11, 12, 13, 14]
    assert fixed.kind == FIXED and fixed.evidence["broken_since_first_run"] is False
    assert (fixed.first_failing_run, fixed.last_passing_run, fixed.fixing_run) == (15, 14, 29)
    assert fixed.evidence["failures"] == 14
    # Read from the window start only, the same history looks broken since its first run.
    [from_window] = findings(*(part[24:] for part in history(spec, step=DAY)))
    assert from_window.evidence["broken_since_first_run"] is True


def test_a_test_broken_since_its_first_run_is_read_back_to_it() -> None:
    spec = "F" * 12 + "PPP"
    assert _read_back(spec, 8) == 0
    [fixed] = _window(spec, 8)
    assert fixed.evidence["broken_since_first_run"] is True
    assert (fixed.first_failing_run, fixed.evidence["failures"]) == (0, 12)


def test_a_window_inside_an_open_regression_reads_back_to_its_opening() -> None:
    # Runs 0-5 pass, 6-35 fail; the window starts at run 20, in the failures: the regression
    # opened at run 6 is still open, and the window writes it again with every failure so far.
    spec = "PPPPPP" + "F" * 30
    assert _read_back(spec, 20) == 0
    [regression] = _window(spec, 20)
    assert (regression.first_run, regression.last_run, regression.status) == (6, 35, OPEN)
    assert regression.evidence["failures"] == 30
    assert _window(spec, 20) == findings(*history(spec, step=DAY))


def test_without_an_open_regression_a_window_of_failures_reads_back_no_further() -> None:
    # A caller that knows no regression is open (none was written: this test never passed five
    # times before failing) stops where no episode can open or end in the window.
    spec = "PP" + "F" * 30
    runs, test_runs = history(spec, step=DAY)
    observations = observe(zip(runs[19:], test_runs[19:], strict=True), reference_branch="main")
    assert not earlier_history_needed(
        observations, since=_at(20), params=PARAMS, all_fixes=False, extend_open=False
    )
    assert earlier_history_needed(observations, since=_at(20), params=PARAMS, all_fixes=False)
    assert findings(runs[19:], test_runs[19:], since=_at(20)) == findings(runs, test_runs) == []


def test_a_fix_in_the_first_passes_of_a_window_is_read_back_for_when_asked() -> None:
    # Failing on runs 5-9, passing from run 10: the window from run 11 holds the fix's third
    # pass; the failure at run 18 opens a new regression.
    spec = "PPPPP" + "FFFFF" + "PPPPPPPP" + "F"
    assert _read_back(spec, 11) == 0
    regression, fixed, again = _window(spec, 11)
    assert (regression.first_run, regression.status) == (5, RESOLVED)
    assert (fixed.first_failing_run, fixed.fixing_run, fixed.last_run) == (5, 10, 12)
    assert (again.kind, again.first_run, again.status) == (REGRESSION, 18, OPEN)
    # Not asked for every fix: it may go unseen, read from the window's first pass; not misread.
    # The new regression is found either way (its baseline and a week before it are read).
    assert _read_back(spec, 11, all_fixes=False) == 11
    assert _window(spec, 11, all_fixes=False) == [again]


def test_a_window_read_back_as_far_as_asked_finds_what_the_whole_history_finds() -> None:
    def reaches(f: RegressionFinding, since: dt.datetime) -> bool:
        if f.kind == FIXED:
            return _at(f.last_run) >= since
        if f.status == RESOLVED:
            return _at(f.evidence["fixing_runs"][-1]) >= since
        return _at(f.last_run) >= since  # open: its failures since the window started count

    def last_failure(spec: str, before: int) -> int:
        return max(i for i, ch in enumerate(spec[:before]) if ch in "FE")

    rng = random.Random(7)
    for _ in range(100):
        spec = "".join(rng.choice("PPPPPPPFFFRES") for _ in range(rng.randint(1, 40)))
        if rng.random() < 0.5:  # long episodes
            spec = spec.replace("F", "F" * rng.randint(1, 9))
        commits = [f"c{i // rng.choice((1, 1, 1, 2))}" for i in range(len(spec))]
        runs, test_runs = history(spec, commits=commits, step=DAY)
        whole = findings(runs, test_runs)
        for window in range(len(spec)):
            since = _at(window)
            want = [f for f in whole if reaches(f, since)]
            assert _window(spec, window, commits=commits) == want, (spec, window)
            # Not asked for every fix: only fixes of episodes over before the first run read
            # are missing, and nothing found differs.
            first = _read_back(spec, window, all_fixes=False, commits=commits)
            got = _window(spec, window, all_fixes=False, commits=commits)
            assert all(f in want for f in got), (spec, window)
            for f in want:
                if f not in got:
                    assert f.status == RESOLVED and f.fixing_run is not None, (spec, window, f)
                    assert last_failure(spec, f.fixing_run) < first, (spec, window, f)


def test_only_tests_observed_to_fail_need_observing() -> None:
    # failed_observed picks the tests whose observations are worth reading: every other test,
    # whatever its failures in outage runs, on other branches or as a cascade follower, is
    # observed to pass or not at all, so it has no findings and needs no earlier history.
    rng = random.Random(11)
    checked = 0
    for _ in range(300):
        spec = "".join(rng.choice("PPPPFFRES") for _ in range(rng.randint(1, 30)))
        runs, test_runs = history(spec, step=DAY)
        runs = [
            RunMeta(r.id, r.commit, rng.choice(("main", "main", "dev")), r.started_at) for r in runs
        ]
        outages = {r.id for r in runs if rng.random() < 0.2}
        followers = {(tr.run, tr.test) for tr in test_runs if rng.random() < 0.2}
        by_id = {r.id: r for r in runs}
        picked = failed_observed(
            test_runs, by_id, cascade_followers=followers, outage_runs=outages,
            reference_branch="main",
        )  # fmt: skip
        observations = observe(
            [(by_id[tr.run], tr) for tr in test_runs],
            cascade_followers=followers, outage_runs=outages, reference_branch="main",
        )  # fmt: skip
        assert (1 in picked) == any(o.result == "failure" or o.result == "mixed"
                                    for o in observations), (spec, outages, followers)  # fmt: skip
        if 1 not in picked:
            checked += 1
            assert findings(runs, test_runs, followers=followers, outages=outages) == []
            for window in range(len(spec)):
                seen = [o for o in observations if o.started_at >= _at(window)]
                assert not earlier_history_needed(seen, since=_at(window), params=PARAMS,
                                                  all_fixes=False)  # fmt: skip
    assert checked > 50  # the case the test is about came up often enough to mean something


def _later(*runs: tuple[int, str, float]) -> list[RunMeta]:
    """Runs (id, commit, days after T0) of the service without the test."""
    return [RunMeta(i, c, "main", T0 + dt.timedelta(days=d)) for i, c, d in runs]


def test_a_test_is_removed_when_both_the_days_and_the_commits_without_it_are_reached() -> None:
    seen = RunMeta(0, "c0", "main", T0)
    days = dt.timedelta(days=PARAMS.removed_after_days)
    daily = _later(*((i, f"c{i}", i) for i in range(1, 31)))
    assert removed_at(seen, daily, PARAMS) == T0 + days  # 5 commits in 5 days: the days decide
    # One commit a week: the fifth other commit, in the fifth week, decides.
    weekly = _later(*((i, f"c{i}", 7 * i) for i in range(1, 7)))
    assert removed_at(seen, weekly, PARAMS) == weekly[PARAMS.removed_after_commits - 1].started_at
    # The order the runs are given in does not matter.
    assert removed_at(seen, list(reversed(weekly)), PARAMS) == weekly[4].started_at


def test_runs_of_the_last_commit_it_ran_on_or_repeated_commits_do_not_count() -> None:
    seen = RunMeta(0, "c0", "main", T0)
    # Other shards and reruns of its last commit, and reruns of 4 other commits, over 60 days.
    reruns = _later(*((i, "c0", i) for i in range(1, 30)), *((100 + i, f"c{i % 4 + 1}", 30 + i)
                                                            for i in range(30)))  # fmt: skip
    assert removed_at(seen, reruns, PARAMS) is None
    # A run that started before its last result (uploaded later) is not "after" it.
    early = _later(*((i, f"c{i}", -i) for i in range(1, 30)))
    assert removed_at(seen, early, PARAMS) is None
    fewer = MetricParams(removed_after_commits=4, removed_after_days=1)
    assert removed_at(seen, reruns, fewer) == T0 + dt.timedelta(days=33)  # c1..c4 by day 33
