"""Hand-made and simulated CI histories for the isolation metric tests.

`History` writes runs the way a test reads them: per timeline, a list of (test id, outcomes) in
execution order, one letter per attempt (P passed, F failed, E error, S skipped), so "FP" is a
failure that passed on retry.

`simulate` plants order-dependent victims (polluters, cleaners), plainly flaky tests and late
runners into a suite run in a fresh random order every run, split round-robin over timelines,
and returns the truth beside the history.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reports.metrics.data import ERROR, FAILED, PASSED, SKIPPED, Execution, RunMeta

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)  # Monday 00:00 UTC, start of 2026-W10
OUTCOME = {"P": PASSED, "F": FAILED, "E": ERROR, "S": SKIPPED}


def at(days: float = 0.0, hours: float = 0.0) -> dt.datetime:
    return T0 + dt.timedelta(days=days, hours=hours)


class History:
    def __init__(self) -> None:
        self.runs: dict[int, RunMeta] = {}
        self.executions: list[Execution] = []
        self._next_id = 1

    def add_run(
        self,
        timelines: Mapping[str, Sequence[tuple[int, str]]] | Sequence[tuple[int, str]],
        *,
        started_at: dt.datetime,
        commit: str | None = None,
        branch: str = "main",
        run_id: int | None = None,
    ) -> int:
        rid = run_id if run_id is not None else self._next_id
        self._next_id = max(self._next_id, rid) + 1
        self.runs[rid] = RunMeta(rid, commit or f"commit-{rid}", branch, started_at)
        if not isinstance(timelines, Mapping):
            timelines = {"w0": timelines}
        for timeline, entries in timelines.items():
            for position, (test, outcomes) in enumerate(entries):
                for attempt, letter in enumerate(outcomes, start=1):
                    # retries run after the timeline's first attempts
                    order = position if attempt == 1 else 10_000 + position
                    self.executions.append(
                        Execution(rid, test, attempt, OUTCOME[letter], 10, timeline, order)
                    )
        return rid


@dataclass(frozen=True)
class Planted:
    victim: int
    polluters: tuple[int, ...]
    cleaners: tuple[int, ...] = ()


@dataclass
class Simulated:
    history: History
    planted: list[Planted]
    flaky: dict[int, float]
    as_of: dt.datetime
    truth_pairs: set[tuple[int, int]] = field(default_factory=set)


def simulate(
    seed: int,
    *,
    n_runs: int = 200,
    n_tests: int = 120,
    n_timelines: int = 4,
    planted: Sequence[Planted] = (),
    flaky: Mapping[int, float] | None = None,
    late: Sequence[int] = (),
    days: float = 27.0,
    runs_per_commit: int = 2,
    retry: bool = True,
) -> Simulated:
    """A suite of tests 1..n_tests run n_runs times over `days` days.

    Victim fails iff, on its timeline, the last of its polluters and cleaners that ran before it
    is a polluter. Flaky tests fail independently with their probability. `late` tests are moved
    to the end of their timeline. Failing first attempts of victims and flaky tests pass on retry
    when `retry` (retries run in another context).
    """
    rng = random.Random(seed)
    flaky = dict(flaky or {})
    by_victim = {p.victim: p for p in planted}
    history = History()
    tests = list(range(1, n_tests + 1))
    for i in range(n_runs):
        order = tests[:]
        rng.shuffle(order)
        lines: dict[str, list[int]] = {f"w{w}": [] for w in range(n_timelines)}
        for pos, t in enumerate(order):
            lines[f"w{pos % n_timelines}"].append(t)
        for seq in lines.values():
            for t in late:
                if t in seq:
                    seq.remove(t)
                    seq.append(t)
        timelines: dict[str, list[tuple[int, str]]] = {}
        for name, seq in lines.items():
            entries: list[tuple[int, str]] = []
            for pos, t in enumerate(seq):
                fail = False
                if t in by_victim:
                    p = by_victim[t]
                    last = None
                    for earlier in seq[:pos]:
                        if earlier in p.polluters or earlier in p.cleaners:
                            last = earlier
                    fail = last is not None and last in p.polluters
                if t in flaky and rng.random() < flaky[t]:
                    fail = True
                entries.append((t, ("FP" if retry else "F") if fail else "P"))
            timelines[name] = entries
        history.add_run(
            timelines,
            started_at=T0 + dt.timedelta(days=days * i / n_runs),
            commit=f"c{i // runs_per_commit}",
        )
    sim = Simulated(history, list(planted), flaky, T0 + dt.timedelta(days=28))
    sim.truth_pairs = {(p.victim, q) for p in planted for q in p.polluters}
    return sim
