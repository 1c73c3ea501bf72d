from __future__ import annotations

import datetime as dt
import random

import pytest
from scipy import stats as scipy_stats

from reports.metrics.data import group_test_runs
from reports.metrics.order import VictimResult, infer_order_dependence
from reports.metrics.params import MetricParams

from .isolation_histories import T0, History, Planted, at, simulate

PARAMS = MetricParams()
AS_OF = T0 + dt.timedelta(days=28)


def infer(h: History, *, as_of: dt.datetime = AS_OF, exclude=frozenset()) -> list[VictimResult]:
    return infer_order_dependence(
        h.runs, group_test_runs(h.executions), as_of=as_of, params=PARAMS, exclude_runs=exclude
    )


def pairs(found: list[VictimResult]) -> set[tuple[int, int]]:
    return {(v.victim, p.polluter) for v in found for p in v.polluters}


# --- a hand-made polluter -> victim pair -------------------------------------------------------

P, V, A, B, C = 1, 2, 3, 4, 5


def hand_made() -> tuple[History, dict[str, list[int]]]:
    """Victim V fails after polluter P; the victim's position varies so it is not the cause."""
    h = History()
    runs: dict[str, list[int]] = {"a": [], "b": [], "c": [], "d": [], "absent": []}
    hour = 0

    def add(kind: str, timelines, victim: str) -> None:
        nonlocal hour
        hour += 1
        marked = {
            name: [(t, victim if t == V else "P") for t in seq] for name, seq in timelines.items()
        }
        runs[kind].append(h.add_run(marked, started_at=at(days=1, hours=hour)))

    for _ in range(3):
        add("a", {"w0": [P, V, A, B, C]}, "F")
        add("a", {"w0": [A, P, V, B, C]}, "F")
        add("a", {"w0": [P, A, B, V, C]}, "F")
    add("b", {"w0": [P, A, V, B, C]}, "P")
    add("c", {"w0": [A, V, P, B, C]}, "F")
    for _ in range(3):
        add("d", {"w0": [A, V, P, B, C]}, "P")
        add("d", {"w0": [A, B, V, P, C]}, "P")
        add("d", {"w0": [A, B, C, V, P]}, "P")
    # P ran on another timeline: it ran, but not earlier on the victim's timeline
    add("d", {"w0": [A, V, B], "w1": [P, C]}, "P")
    add("d", {"w0": [A, V, B], "w1": [C, P]}, "P")
    # P did not run at all: says nothing about P's position, left out of P's table
    add("absent", {"w0": [A, V, B, C]}, "F")
    return h, runs


def test_it_finds_the_polluter_with_its_two_by_two_table():
    h, runs = hand_made()
    found = infer(h)
    assert [v.victim for v in found] == [V]
    victim = found[0]
    assert (victim.failures, victim.passes) == (11, 12)
    assert [p.polluter for p in victim.polluters] == [P]
    ev = victim.polluters[0]
    assert (ev.a, ev.b, ev.c, ev.d) == (9, 1, 1, 11)
    assert ev.risk_with == pytest.approx(9 / 10)
    assert ev.risk_without == pytest.approx(1 / 12)
    assert ev.p == pytest.approx(
        scipy_stats.fisher_exact([[9, 1], [1, 11]], alternative="greater").pvalue
    )
    # BH over the 4 candidate groups (P, A, B, C): q is at most 4·p and at least p
    assert ev.p <= ev.q <= 4 * ev.p
    assert ev.explained_runs == tuple(sorted(runs["a"]))
    # each cell keeps the runs it counts; the run where P did not run is in none
    assert ev.cell_runs == tuple(tuple(sorted(runs[cell])) for cell in "abcd")
    # P was right before V in 6 of the 9 explained failures, not in [P, A, B, V, C]
    assert ev.immediate_predecessor_share == pytest.approx(6 / 9)
    assert ev.group == (P,)


def test_evidence_is_json_ready():
    import json

    h, _ = hand_made()
    ev = infer(h)[0].polluters[0].evidence()
    assert json.loads(json.dumps(ev))["a"] == 9
    assert {"a", "b", "c", "d", "risk_with", "risk_without", "q", "p"} <= ev.keys()


def test_runs_outside_the_window_or_excluded_are_not_evidence():
    h, runs = hand_made()
    assert infer(h, as_of=at(days=1 + 28, hours=30)) == []
    assert infer(h, exclude=set(runs["a"][:6])) == []  # 3 failures left: not a victim


def test_a_victim_needs_five_failures_and_five_passes():
    h = History()
    for i in range(4):
        h.add_run([(P, "P"), (V, "F")], started_at=at(hours=i))
    for i in range(10):
        h.add_run([(V, "P"), (P, "P")], started_at=at(days=1, hours=i))
    assert infer(h) == []


# --- explain-away -----------------------------------------------------------------------------


def test_explain_away_finds_both_polluters_and_nothing_else():
    for seed in range(3):
        sim = simulate(seed, n_runs=120, n_tests=25, n_timelines=1, planted=[Planted(1, (2, 3))])
        found = infer(sim.history)
        assert pairs(found) == {(1, 2), (1, 3)}, seed
        steps = {p.polluter: p.step for p in found[0].polluters}
        assert sorted(steps.values()) == [1, 2]


def test_the_second_polluter_is_tested_on_the_residual():
    sim = simulate(4, n_runs=120, n_tests=25, n_timelines=1, planted=[Planted(1, (2, 3))])
    first, second = infer(sim.history)[0].polluters
    # on the residual the first polluter never ran earlier, so every failure left has the
    # second one earlier: no failure without it
    assert second.c == 0
    # the second table's runs are the residual's: none has the first polluter earlier
    first_earlier = set(first.cell_runs[0] + first.cell_runs[1])
    assert not first_earlier & {r for cell in second.cell_runs for r in cell}
    assert [len(cell) for cell in second.cell_runs] == [second.a, second.b, second.c, second.d]
    assert second.a + second.b + second.c + second.d < first.a + first.b + first.c + first.d + 120


# --- position: late victims, accumulated state -------------------------------------------------


def test_a_late_running_flaky_victim_gets_no_polluter():
    # V always runs last, after almost every test; it fails 40% of the time at random.
    for seed in range(5):
        sim = simulate(seed, n_runs=80, n_tests=30, n_timelines=1, flaky={7: 0.4}, late=[7])
        assert infer(sim.history) == [], seed


def test_a_late_running_victim_with_a_real_polluter_is_still_found():
    # on 4 timelines a late victim's predecessors vary, so its real polluter stands out
    sim = simulate(3, n_runs=200, n_tests=80, planted=[Planted(7, (9,))], late=[7])
    assert pairs(infer(sim.history)) == {(7, 9)}


def position_driven(
    seed: int, *, n_runs: int = 200, n_tests: int = 120, timelines: int = 4
) -> History:
    """Test 7 fails whenever it runs past 60% of its timeline: accumulated state, no polluter."""
    rng = random.Random(seed)
    h = History()
    for i in range(n_runs):
        order = list(range(1, n_tests + 1))
        rng.shuffle(order)
        lines = {f"w{w}": order[w::timelines] for w in range(timelines)}
        h.add_run(
            {
                name: [
                    (t, "F" if t == 7 and pos >= 0.6 * len(seq) else "P")
                    for pos, t in enumerate(seq)
                ]
                for name, seq in lines.items()
            },
            started_at=T0 + dt.timedelta(days=27 * i / n_runs),
        )
    return h


@pytest.mark.parametrize("timelines", [4, 1])
def test_a_victim_of_accumulated_state_gets_no_polluter(timelines):
    for seed in range(4):
        found = infer(position_driven(seed, timelines=timelines, n_tests=30 * timelines))
        assert pairs(found) == set(), (seed, pairs(found))


# --- cleaners, groups, renamed tests -----------------------------------------------------------


def test_a_polluter_is_found_despite_a_cleaner():
    # V fails only if P ran earlier with no run of cleaner 5 in between: fewer failures
    sim = simulate(2, n_runs=150, n_tests=20, n_timelines=1, planted=[Planted(1, (2,), (5,))])
    found = infer(sim.history)
    assert pairs(found) == {(1, 2)}
    ev = found[0].polluters[0]
    assert ev.b > 0  # runs with P earlier that passed: the cleaner ran in between
    assert 5 in ev.cleaners


def test_tests_that_always_run_together_are_one_group():
    rng = random.Random(5)
    h = History()
    for i in range(60):
        blocks = [[10, 11]] + [[t] for t in range(1, 10) if t != 1] + [[1]]
        rng.shuffle(blocks)
        seq = [t for block in blocks for t in block]
        fails = seq.index(1) > seq.index(10)
        h.add_run([(t, "F" if t == 1 and fails else "P") for t in seq], started_at=at(hours=i))
    found = infer(h)
    assert len(found) == 1
    ev = found[0].polluters[0]
    assert ev.group == (10, 11)
    # 11 always follows 10, so only 11 can be the victim's immediate predecessor
    assert ev.polluter == 11


def test_a_renamed_test_does_not_become_a_polluter():
    # Victim 1 is plainly flaky: rarely failing at first, often after day 14 (say, a slower
    # machine). Test 50 is renamed to 51 on day 14. "51 ran earlier" then coincides with the
    # high failure rate; only its position among runs that have it may count.
    rng = random.Random(11)
    h = History()
    for i in range(200):
        late = i >= 100
        tests = list(range(1, 21)) + [51 if late else 50]
        rng.shuffle(tests)
        fail_rate = 0.8 if late else 0.02
        h.add_run(
            [(t, "F" if t == 1 and rng.random() < fail_rate else "P") for t in tests],
            started_at=T0 + dt.timedelta(hours=3 * i),
        )
    assert infer(h) == []


# --- simulated histories: precision and recall ------------------------------------------------


def test_precision_and_recall_on_simulated_histories():
    planted = [
        Planted(10, (20,)),
        Planted(11, (21, 22)),
        Planted(12, (23,), (24,)),
        Planted(13, (25,)),
        Planted(14, (26,)),
    ]
    true_positive = false_positive = false_negative = 0
    for seed in range(5):
        sim = simulate(
            seed,
            n_runs=200,
            n_tests=120,
            n_timelines=4,
            planted=planted,
            flaky={30: 0.3, 31: 0.4, 14: 0.1},  # 14 is a victim with background noise
            late=[30, 12],
        )
        found = set()
        for v in infer(sim.history):
            for p in v.polluters:
                # a group is right when it holds the planted polluter
                hit = [t for t in p.group if (v.victim, t) in sim.truth_pairs]
                found.add((v.victim, hit[0] if hit else p.polluter))
        true_positive += len(found & sim.truth_pairs)
        false_positive += len(found - sim.truth_pairs)
        false_negative += len(sim.truth_pairs - found)
    precision = true_positive / (true_positive + false_positive)
    recall = true_positive / (true_positive + false_negative)
    assert precision >= 0.95, (true_positive, false_positive)
    assert recall >= 0.95, (true_positive, false_negative)


def test_plainly_flaky_tests_get_no_polluters():
    flaky = {t: 0.2 + 0.05 * (t % 5) for t in range(1, 11)}
    false_pairs = 0
    for seed in range(4):
        sim = simulate(100 + seed, n_runs=200, n_tests=100, flaky=flaky)
        false_pairs += len(pairs(infer(sim.history)))
    assert false_pairs == 0


def test_input_order_does_not_change_the_result():
    sim = simulate(8, n_runs=150, n_tests=60, planted=[Planted(10, (20, 21)), Planted(11, (22,))])
    trs = group_test_runs(sim.history.executions)
    expected = infer_order_dependence(sim.history.runs, trs, as_of=sim.as_of, params=PARAMS)
    assert expected
    rng = random.Random(1)
    for _ in range(3):
        shuffled = trs[:]
        rng.shuffle(shuffled)
        runs = dict(sorted(sim.history.runs.items(), key=lambda _: rng.random()))
        assert infer_order_dependence(runs, shuffled, as_of=sim.as_of, params=PARAMS) == expected
