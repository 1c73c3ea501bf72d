from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random

import pytest

from reports.metrics.data import ERROR, FAILED
from reports.metrics.evidence import MAX_CELL_RUNS, MAX_EVIDENCE_RUNS
from reports.metrics.isolation import (
    CASCADE,
    FLAKY,
    ORDER_DEPENDENT,
    analyze_isolation,
    history_start,
)
from reports.metrics.params import MetricParams

from .isolation_histories import T0, History, Planted, at, simulate

PARAMS = MetricParams()
WEEK_START = T0
WEEK_END = T0 + dt.timedelta(days=7)
TESTS = list(range(1, 11))


def analyze(h: History, **kw):
    kw.setdefault("week_start", WEEK_START)
    kw.setdefault("week_end", WEEK_END)
    kw.setdefault("params", PARAMS)
    return analyze_isolation(h.runs, h.executions, **kw)


def all_pass(**changed: str) -> list[tuple[int, str]]:
    return [(t, changed.get(f"t{t}", "P")) for t in TESTS]


def tiny_week() -> tuple[History, dict[str, int]]:
    """A week small enough to count by hand (test_the_score_and_components_match_hand_count)."""
    h = History()
    for i in range(20):  # the week before: clean history for baselines
        h.add_run(all_pass(), started_at=at(days=-7, hours=8 * i))
    r = {}
    r["r1"] = h.add_run(all_pass(), started_at=at(days=0))
    r["r2"] = h.add_run(all_pass(t2="FP"), started_at=at(days=1))
    r["r3"] = h.add_run(all_pass(t3="F"), started_at=at(days=2), commit="c3")
    r["r4"] = h.add_run(all_pass(), started_at=at(days=2, hours=1), commit="c3")
    r["r5"] = h.add_run(all_pass(t6="F"), started_at=at(days=3))
    # a cascade, not an outage: from its root on, 4 of the 9 remaining tests failed
    r["r6"] = h.add_run(all_pass(t2="F", t3="F", t4="FP", t5="F"), started_at=at(days=4))
    r["r7"] = h.add_run([(1, "FP")] + [(t, "F") for t in TESTS[1:]], started_at=at(days=5))
    r["r8"] = h.add_run(all_pass(), started_at=at(days=6))
    return h, r


def test_the_score_and_components_match_hand_count():
    h, r = tiny_week()
    res = analyze(h)
    # r7 is an outage (every test failed); 7 runs remain. Unclean: r2 (test 2 passed on retry),
    # r3 (test 3 failed, passed in r4 on the same commit), r6 (cascade rooted at test 2).
    assert res.outage_runs == (r["r7"],)
    assert res.runs == 7
    assert res.clean_runs == 4
    assert res.score == pytest.approx(100 * 4 / 7)
    assert res.unclean_runs == (
        (r["r2"], (FLAKY,)),
        (r["r3"], (FLAKY,)),
        (r["r6"], (CASCADE,)),  # test 4's retry pass there belongs to the cascade
    )
    assert res.tests_executed == 10
    assert res.flaky_tests == 2  # tests 2 and 3; not 4 (only a follower), not 6 (no evidence)
    assert res.flaky_test_ratio == pytest.approx(2 / 10)
    assert (res.victims, res.polluters) == (0, 0)
    assert (res.timelines, res.cascade_timelines) == (7, 1)
    # failed first attempts: r2 t2, r3 t3, r5 t6, r6 t2 t3 t4 t5 = 7; explained by isolation:
    # r2 t2, r3 t3 (flaky results) and the followers r6 t3 t4 t5 = 5
    assert res.failed_first_attempts == 7
    assert res.isolation_failures == 5
    assert res.noise_share == pytest.approx(5 / 7)
    # flaky results in the week: r2 t2, r3 t3, r6 t4 over 7 × 10 decided test-runs
    assert (res.flaky_result_count, res.decided) == (3, 70)
    assert res.flake_rate == pytest.approx(3 / 70)
    assert json.loads(json.dumps(res.components()))["runs"] == 7


def test_the_findings_of_the_tiny_week():
    h, r = tiny_week()
    res = analyze(h)
    got = {(f.kind, f.test, f.related_test, f.first_run, f.last_run) for f in res.findings}
    assert got == {
        (FLAKY, 2, None, r["r2"], r["r2"]),
        (FLAKY, 3, None, r["r3"], r["r3"]),
        (CASCADE, 2, None, r["r6"], r["r6"]),
    }
    cascade = next(f for f in res.findings if f.kind == CASCADE)
    (item,) = cascade.evidence["cascades"]
    assert item["followers"] == [3, 4, 5]
    assert (cascade.evidence["followers"], cascade.evidence["follower_tests"]) == (3, 3)
    # baselines over the 26 other non-outage runs: test 3 failed once (r3), 4 and 5 never
    assert item["probability"] == pytest.approx((2 / 28) * (1 / 28) * (1 / 28))
    assert item["followers_passed_on_retry"] == 1
    flaky3 = next(f for f in res.findings if f.kind == FLAKY and f.test == 3)
    assert flaky3.evidence["results"] == [
        {"run": r["r3"], "reason": "same_commit", "evidence_run": r["r4"]}
    ]
    # 1 flaky result over its 27 decided first attempts in the 14-day window
    assert flaky3.score == pytest.approx(1 / 27)
    for f in res.findings:
        json.dumps(f.evidence)
    assert (r["r6"], 4) in res.cascade_followers
    assert 4 not in res.statuses


def test_an_outage_run_gives_no_cascade_and_no_flaky_result():
    h, r = tiny_week()
    res = analyze(h)
    assert all(c.run != r["r7"] for c in res.cascades)
    assert all(x.result.run != r["r7"] for x in res.flaky_results)
    assert 1 not in res.statuses  # its only failure was the outage's, passed on retry


def test_runs_after_as_of_are_not_known():
    h, r = tiny_week()
    res = analyze(h, as_of=at(days=3, hours=12))
    assert res.runs == 5  # r1..r5
    assert all(c.run != r["r6"] for c in res.cascades)


def test_a_test_broken_since_its_first_run_is_not_an_isolation_problem():
    h = History()
    for i in range(30):
        h.add_run(all_pass() + [(77, "F")], started_at=at(days=-14, hours=16 * i))
    res = analyze(h)
    assert res.findings == ()
    assert res.score == 100.0
    assert res.failed_first_attempts > 0
    assert res.noise_share == 0.0


def test_a_renamed_test_makes_no_findings():
    h = History()
    for i in range(40):
        renamed = 88 if i < 20 else 89
        h.add_run(all_pass() + [(renamed, "P")], started_at=at(days=-21, hours=16 * i))
    res = analyze(h)
    assert res.findings == ()
    assert res.statuses == {}


def test_a_regression_block_is_not_reported_as_flaky():
    h = History()
    for i in range(28):
        broken = 10 <= i < 16
        h.add_run(all_pass(t5="F" if broken else "P"), started_at=at(days=-14, hours=18 * i))
    res = analyze(h)
    assert FLAKY not in {f.kind for f in res.findings}


def test_a_victim_is_order_dependent_not_flaky():
    sim = simulate(
        3,
        n_runs=200,
        n_tests=60,
        planted=[Planted(10, (20,))],
        flaky={30: 0.3},
    )
    week_start = sim.as_of - dt.timedelta(days=7)
    res = analyze_isolation(
        sim.history.runs,
        sim.history.executions,
        week_start=week_start,
        week_end=sim.as_of,
        params=PARAMS,
    )
    kinds = {(f.kind, f.test, f.related_test) for f in res.findings}
    assert (ORDER_DEPENDENT, 10, 20) in kinds
    assert (FLAKY, 30, None) in kinds
    assert (FLAKY, 10, None) not in kinds
    assert 10 not in res.statuses
    victim_results = [x for x in res.flaky_results if x.result.test == 10]
    assert victim_results and {x.cause for x in victim_results} == {ORDER_DEPENDENT}
    assert (res.victims, res.polluters) == (1, 1)

    # Every failure in this simulation is retried and passes, so a run is clean exactly when no
    # first attempt failed in it: count that straight from the executions.
    week_runs = [
        rid for rid, m in sim.history.runs.items() if week_start <= m.started_at < sim.as_of
    ]
    failing = {
        e.run for e in sim.history.executions if e.attempt == 1 and e.outcome in (FAILED, ERROR)
    }
    clean = [rid for rid in week_runs if rid not in failing]
    assert res.runs == len(week_runs)
    assert res.score == pytest.approx(100 * len(clean) / len(week_runs))
    assert res.noise_share == 1.0
    od = next(f for f in res.findings if f.kind == ORDER_DEPENDENT)
    assert od.score == pytest.approx(od.evidence["risk_difference"])
    assert {"a", "b", "c", "d", "q", "risk_with", "risk_without"} <= od.evidence.keys()


def test_an_order_dependent_finding_lists_the_latest_runs_of_each_cell():
    sim = simulate(3, n_runs=300, n_tests=40, planted=[Planted(10, (20,))])
    res = analyze_isolation(
        sim.history.runs, sim.history.executions,
        week_start=sim.as_of - dt.timedelta(days=7), week_end=sim.as_of, params=PARAMS,
    )  # fmt: skip
    [od] = [f for f in res.findings if f.kind == ORDER_DEPENDENT]
    assert (od.test, od.related_test, od.evidence["step"]) == (10, 20, 1)
    # Each cell counted straight from the executions: the victim's first attempt in a run of
    # the window, by whether the polluter ran before it on its worker.
    first = {(e.run, e.test): e for e in sim.history.executions if e.attempt == 1}
    start = sim.as_of - dt.timedelta(days=PARAMS.od_window_days)
    cells: dict[str, list[int]] = {"a": [], "b": [], "c": [], "d": []}
    for run, meta in sim.history.runs.items():
        if not start <= meta.started_at < sim.as_of or run in res.all_outage_runs:
            continue
        victim, polluter = first[(run, 10)], first[(run, 20)]
        earlier = polluter.timeline == victim.timeline and polluter.order < victim.order
        failed = victim.outcome in (FAILED, ERROR)
        cells[("a" if failed else "b") if earlier else ("c" if failed else "d")].append(run)
    assert any(len(runs) > MAX_CELL_RUNS for runs in cells.values()), "the cap is exercised"
    for cell, runs in cells.items():
        assert od.evidence[cell] == len(runs), cell
        by_start = sorted(runs, key=lambda r: (sim.history.runs[r].started_at, r))
        assert od.evidence["cell_runs"][cell] == by_start[-MAX_CELL_RUNS:], cell
    assert od.evidence["explained_runs"] == od.evidence["cell_runs"]["a"][-MAX_EVIDENCE_RUNS:]
    assert len(json.dumps(od.evidence["cell_runs"])) < 4000  # modest, whatever the window


def test_the_same_input_in_any_order_gives_the_same_output():
    sim = simulate(
        5,
        n_runs=160,
        n_tests=50,
        planted=[Planted(10, (20, 21)), Planted(11, (22,))],
        flaky={30: 0.3, 31: 0.2},
    )
    kw = dict(week_start=sim.as_of - dt.timedelta(days=7), week_end=sim.as_of, params=PARAMS)
    expected = analyze_isolation(sim.history.runs, sim.history.executions, **kw)
    assert expected.findings
    rng = random.Random(2)
    for _ in range(2):
        executions = sim.history.executions[:]
        rng.shuffle(executions)
        runs = dict(sorted(sim.history.runs.items(), key=lambda _: rng.random()))
        got = analyze_isolation(runs, executions, **kw)
        assert got == expected
        assert json.dumps([dataclasses.asdict(f) for f in got.findings]) == json.dumps(
            [dataclasses.asdict(f) for f in expected.findings]
        )


def test_history_start_covers_every_window():
    start = history_start(WEEK_END, PARAMS)
    assert WEEK_END - start >= dt.timedelta(days=28)
    assert WEEK_END - start >= dt.timedelta(days=PARAMS.flaky_window_days + PARAMS.same_commit_days)


def test_flip_rate_and_entropy_per_test_leave_out_outages_and_followers():
    h, _ = tiny_week()
    res = analyze(h)
    # test 6: 20 passes before the week, then r1..r5 (r5 failed), r6, r8; r7 is an outage
    six = res.series[6]
    assert (six.n, six.failures) == (27, 1)
    assert six.flip_rate == pytest.approx(2 / 26)
    f = 1 / 27
    assert six.entropy == pytest.approx(-(f * math.log2(f) + (1 - f) * math.log2(1 - f)))
    # test 3 failed in r3 and as a follower in r6; the follower failure is not its own
    assert (res.series[3].n, res.series[3].failures) == (26, 1)


def test_a_flaky_findings_reasons_count_the_flaky_window_as_its_flake_rate_does():
    h = History()
    # Test 2 passes on retry 18 days before the week's end, and twice in the week; the flaky
    # window is the last 14 days.
    days = ((-11, "FP"), (-10, "P"), (-9, "P"), (1, "FP"), (2, "P"), (3, "FP"), (4, "P"))
    ids = [h.add_run(all_pass(t2=t2), started_at=at(days=day)) for day, t2 in days]
    [finding] = [f for f in analyze(h, as_of=WEEK_END).findings if f.kind == FLAKY]
    e = finding.evidence
    assert (e["flaky_results_in_window"], e["decided_in_window"]) == (2, 4)
    assert e["reasons"] == {"retry": 2} and len(e["results"]) == 2
    assert (finding.first_run, finding.last_run) == (ids[3], ids[5])
