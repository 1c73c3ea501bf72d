"""Planted behaviours and the execution of one suite run.

A ServiceModel holds a service's catalogue and the behaviours planted on it. `execute` plays one
CI run of the suite at a given code state (a main commit index): it shuffles the tests onto the
workers (pytest-xdist with pytest-randomly; for go, each package is one process with a shuffled
order), decides each attempt's outcome from the planted behaviours, and times every attempt on
its worker's clock.

Failure causes, in the order they take precedence when several apply to one attempt:
  OUTAGE      the run's infrastructure is down (almost every test from some point on fails)
  CASCADE     an earlier test on this worker leaked state (followers of a leaking root)
  REGRESSION  deterministic failure from a main commit on (until its fix, if any)
  BROKEN      deterministic failure from the test's first run until its fix
  OD          a polluter ran earlier on this worker and no cleaner ran since
  FLAKY/LEAK  the test's own non-determinism (LEAK: a leaking root, which breaks its followers)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from tests.simulation.model import (
    NEVER,
    ServiceSpec,
    TestDef,
    TestId,
    build_catalogue,
    renamed_ident,
)

PASSED, FAILED, ERROR, SKIPPED = 0, 1, 2, 3  # the ingest Outcome codes
NONE, FLAKY, LEAK, OD, CASCADE, REGRESSION, BROKEN, OUTAGE = range(8)
CAUSE_NAMES = (
    "none",
    "flaky",
    "leak",
    "order_dependent",
    "cascade",
    "regression",
    "broken",
    "outage",
)

OUTAGE_FAIL_PROBABILITY = 0.97
GAP_MS = 2  # between two tests on one worker: teardown and report bookkeeping


@dataclass
class Planted:
    """One planted behaviour, in commit indices (main commit numbers, 0 = first of history).

    kind: flaky | order_dependent | cascade | regression | broken | slowdown | speedup |
          added | removed | renamed
    test: the test carrying it (the victim for order_dependent, the root for cascade, the new
          identity for renamed); related: polluters (order_dependent) or the old identity
          (renamed). `start`/`end` bound the code states it applies to (end exclusive).
    """

    kind: str
    test: int
    related: tuple[int, ...] = ()
    start: int = 0
    end: int = NEVER
    params: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class RunOutcome:
    """What happened in one run of one suite.

    attempts: (worker, test, attempt, outcome, duration_ms, start_offset_ms, cause) in document
    order: sorted by start time, so within a worker document order is execution order.
    timelines: per worker, the non-skipped first attempts in execution order as
    (test, outcome, cause), which is what order-dependence and cascade analysis look at.
    """

    attempts: list[tuple[int, int, int, int, int, int, int]]
    timelines: list[list[tuple[int, int, int]]]
    worker_names: list[str]
    first_out: list[int]  # per catalogue index; -1 = did not run
    final_out: list[int]
    first_cause: list[int]
    first_duration: list[int]
    retry_passed: set[int]
    od_seen: dict[int, tuple[frozenset[int], frozenset[int]]]  # victim -> (ran before, dirty)
    wall_ms: int
    outage: bool
    test_runs: int  # tests that ran (skipped included), i.e. first attempts


class ServiceModel:
    """A service's tests, their planted behaviours, and how a run of its suite plays out."""

    def __init__(
        self, spec: ServiceSpec, index: int, main_commits: int, seed: int, skip_share: float
    ) -> None:
        self.spec = spec
        self.index = index
        recipe = spec.recipe
        extra = recipe.added + recipe.renamed + max(0, recipe.broken - 1)
        catalogue_rng = np.random.default_rng([seed, 3, index])
        self.defs: list[TestDef] = build_catalogue(
            spec, spec.tests + extra, catalogue_rng, skip_share
        )
        self.n = len(self.defs)
        self.planted: list[Planted] = []
        self.flaky: dict[int, list[tuple[int, int, float]]] = {}
        self.deterministic: dict[int, list[tuple[int, int, int]]] = {}
        self.victims: dict[int, tuple[tuple[int, ...], float]] = {}
        self.polluters: set[int] = set()
        self.cleaners: dict[int, tuple[int, ...]] = {}
        self.leaks: dict[int, tuple[float, int]] = {}
        self.duration_changes: dict[int, list[tuple[int, float]]] = {}
        self._plant(main_commits, np.random.default_rng([seed, 2, index]))
        self.median = np.array([d.median_ms for d in self.defs])
        self.sigma = np.array([math.sqrt(math.log1p(d.cv * d.cv)) for d in self.defs])
        self.skip = [bool(d.skip) for d in self.defs]
        self.groups = sorted({d.group for d in self.defs})
        self._active_cache: dict[int, np.ndarray] = {}
        self.render_cache: dict[int, str] = {}  # writers' escaped identity attributes
        self._scale_cache: dict[int, np.ndarray] = {}
        self._added = np.array([d.added for d in self.defs])
        self._removed = np.array([d.removed for d in self.defs])
        if spec.style == "go":
            modules = {d.group: d.ident.classname for d in self.defs}
            self.worker_names = [modules[g] for g in self.groups]
        elif spec.style == "java":
            self.worker_names = [f"fork-{w + 1}" for w in range(spec.workers)]
        else:
            self.worker_names = [f"gw{w}" for w in range(spec.workers)]

    # --- Planting ---------------------------------------------------------------------------

    def _plant(self, m: int, rng: np.random.Generator) -> None:
        """Choose the tests and commits of every behaviour in the recipe."""
        recipe = self.spec.recipe
        n0 = self.spec.tests
        pool = [i for i in range(n0) if not self.defs[i].skip]
        rng.shuffle(pool)
        extras = list(range(n0, self.n))

        def take(group: int | None = None) -> int:
            if not pool:
                raise ValueError(f"service {self.spec.name!r} has too few tests for its recipe")
            if group is not None:
                for k, i in enumerate(pool):
                    if self.defs[i].group == group:
                        return pool.pop(k)
            return pool.pop()

        def at(lo: float, hi: float) -> int:
            return int(rng.integers(max(1, int(lo * m)), max(2, int(hi * m)) + 1))

        go = self.spec.style == "go"

        # Order dependence first: in go, victim and polluters must share a package (timeline).
        def plant_od(n_polluters: int, cleaned: bool) -> None:
            victim = take()
            group = self.defs[victim].group if go else None
            polluters = tuple(take(group) for _ in range(n_polluters))
            p_fail = recipe.od_fail_probability
            self.victims[victim] = (polluters, p_fail)
            self.polluters.update(polluters)
            cleaners: dict[str, list[int]] = {}
            if cleaned:
                cleaner = take(group)
                self.cleaners[cleaner] = (polluters[0],)
                cleaners[str(polluters[0])] = [cleaner]
            self.planted.append(
                Planted(
                    "order_dependent",
                    victim,
                    polluters,
                    params={"fail_probability": p_fail, "cleaners": cleaners},
                )
            )

        for _ in range(recipe.od_pairs):
            plant_od(1, False)
        for _ in range(recipe.od_two_polluters):
            plant_od(2, False)
        for _ in range(recipe.od_cleaned):
            plant_od(1, True)

        for _ in range(recipe.cascades):
            root = take()
            lo, hi = recipe.cascade_rates
            rate = round(float(rng.uniform(lo, hi)), 3)
            span = int(rng.integers(recipe.cascade_span[0], recipe.cascade_span[1] + 1))
            self.leaks[root] = (rate, span)
            self.flaky[root] = [(0, NEVER, rate)]
            self.planted.append(Planted("cascade", root, params={"rate": rate, "span": span}))

        for j in range(recipe.flaky):
            test = take()
            lo, hi = recipe.flaky_rates
            rate = round(float(math.exp(rng.uniform(math.log(lo), math.log(hi)))), 3)
            variant = (j + self.index) % 3
            start, end = 0, NEVER
            if variant == 1 and j > 0:  # becomes flaky mid-history
                start = at(0.2, 0.5)
            elif variant == 2 and j > 0:  # flaky until a fix mid-history
                end = at(0.5, 0.75)
            self.flaky[test] = [(start, end, rate)]
            self.planted.append(Planted("flaky", test, start=start, end=end, params={"rate": rate}))

        # Deterministic failures, each in its own slot of history so that two of them never
        # start together (a pair of new failures side by side would look like a cascade).
        items: list[str] = []
        broken_from_start = recipe.broken > 0
        items += ["fixed"] * recipe.fixed_regressions
        items += ["broken"] * max(0, recipe.broken - 1)
        items += ["regression"] * recipe.regressions
        if broken_from_start:
            test = take()
            fix = at(0.08, 0.2)
            self.deterministic[test] = [(0, fix, BROKEN)]
            self.planted.append(Planted("broken", test, start=0, end=fix))
        slots = len(items)
        for k, what in enumerate(items):
            lo = 0.25 + 0.7 * k / slots
            hi = 0.25 + 0.7 * (k + 1) / slots
            width = hi - lo
            if what == "regression":
                start = at(lo, lo + 0.5 * width)
                test = take()
                self.deterministic[test] = [(start, NEVER, REGRESSION)]
                self.planted.append(Planted("regression", test, start=start))
            elif what == "fixed":
                start = at(lo, lo + 0.35 * width)
                end = at(lo + 0.6 * width, hi)
                test = take()
                self.deterministic[test] = [(start, end, REGRESSION)]
                self.planted.append(
                    Planted("regression", test, start=start, end=end, params={"fixed": True})
                )
            else:
                start = at(lo, lo + 0.35 * width)
                end = at(lo + 0.6 * width, hi)
                test = extras.pop(0)
                self.defs[test].added = start
                self.deterministic[test] = [(start, end, BROKEN)]
                self.planted.append(Planted("broken", test, start=start, end=end))

        for kind, count in (("slowdown", recipe.slowdowns), ("speedup", recipe.speedups)):
            for _ in range(count):
                test = take()
                d = self.defs[test]
                # Long and steady enough that the change clears DESIGN's 25 ms / x1.10 bar
                # against its own noise.
                d.median_ms = float(rng.uniform(150, 1200))
                d.cv = float(rng.uniform(0.04, 0.12))
                factor = round(float(rng.uniform(1.5, 2.5)), 2) if kind == "slowdown" else 0.5
                commit = at(0.3, 0.7)
                self.duration_changes[test] = [(commit, factor)]
                self.planted.append(
                    Planted(
                        kind,
                        test,
                        start=commit,
                        params={
                            "factor": factor,
                            "median_ms": round(d.median_ms, 1),
                            "cv": round(d.cv, 3),
                        },
                    )
                )

        for _ in range(recipe.renamed):
            old = take()
            new = extras.pop(0)
            when = at(0.3, 0.7)
            od, nd = self.defs[old], self.defs[new]
            nd.ident = renamed_ident(self.spec, od.ident)
            nd.line, nd.group, nd.median_ms, nd.cv = od.line, od.group, od.median_ms, od.cv
            od.removed = when
            nd.added = when
            self.planted.append(Planted("renamed", new, (old,), start=when))
        for _ in range(recipe.removed):
            test = take()
            when = at(0.1, 0.9)
            self.defs[test].removed = when
            self.planted.append(Planted("removed", test, start=when))
        for _ in range(recipe.added):
            test = extras.pop(0)
            when = at(0.1, 0.9)
            self.defs[test].added = when
            self.planted.append(Planted("added", test, start=when))
        # Extras nobody used stay out of the suite.
        for test in extras:
            self.defs[test].added = NEVER

    # --- Roles ------------------------------------------------------------------------------

    def ident(self, test: int) -> TestId:
        return self.defs[test].ident

    def planted_tests(self) -> set[int]:
        """Tests that carry a behaviour of their own (everything else is noise)."""
        own = {"flaky", "order_dependent", "cascade", "regression", "broken", "slowdown", "speedup"}
        return {p.test for p in self.planted if p.kind in own}

    # --- Running ----------------------------------------------------------------------------

    def active(self, base: int) -> np.ndarray:
        """Catalogue indices of the tests present in the code of main commit `base`."""
        cached = self._active_cache.get(base)
        if cached is None:
            if len(self._active_cache) > 256:  # runs come in time order: old states go cold
                self._active_cache.clear()
            cached = np.flatnonzero((self._added <= base) & (self._removed > base))
            self._active_cache[base] = cached
        return cached

    def duration_scale(self, base: int) -> np.ndarray | None:
        if not self.duration_changes:
            return None
        cached = self._scale_cache.get(base)
        if cached is None:
            if len(self._scale_cache) > 256:
                self._scale_cache.clear()
            cached = np.ones(self.n)
            for test, changes in self.duration_changes.items():
                for commit, factor in changes:
                    if base >= commit:
                        cached[test] *= factor
            self._scale_cache[base] = cached
        return cached

    def execute(
        self, base: int, rng: np.random.Generator, outage_from: float | None = None
    ) -> RunOutcome:
        """Run the suite of main commit `base` once.

        outage_from: when set, infrastructure fails from that fraction of each worker's sequence
        on, and almost every test from there fails on every attempt.
        """
        spec = self.spec
        active = self.active(base)
        n = len(active)
        order = active[rng.permutation(n)]
        if spec.style == "go":
            group_index = {g: k for k, g in enumerate(self.groups)}
            workers = [group_index[self.defs[t].group] for t in order.tolist()]
            n_workers = len(self.groups)
        else:
            n_workers = spec.workers
            workers = rng.integers(0, n_workers, size=n).tolist()
        u = rng.random(n).tolist()
        u_od = rng.random(n).tolist()
        speed = math.exp(rng.normal(0.0, 0.04))  # the runner's speed varies a little per run
        median = self.median[order]
        scale = self.duration_scale(base)
        if scale is not None:
            median = median * scale[order]
        sigma = self.sigma[order]
        durations = np.rint(median * np.exp(sigma * rng.standard_normal(n)) * speed)
        dur = np.maximum(durations, 0).astype(np.int64).tolist()
        setup = rng.integers(800, 4000, size=n_workers).tolist()
        order_l = order.tolist()

        flaky_rate: dict[int, float] = {}
        for test, ranges in self.flaky.items():
            for start, end, rate in ranges:
                if start <= base < end:
                    flaky_rate[test] = rate
        deterministic: dict[int, int] = {}
        for test, ranges in self.deterministic.items():
            for start, end, cause in ranges:
                if start <= base < end:
                    deterministic[test] = cause

        sequences: list[list[int]] = [[] for _ in range(n_workers)]
        for j, w in enumerate(workers):
            sequences[w].append(j)

        size = self.n
        first_out = [-1] * size
        final_out = [-1] * size
        first_cause = [NONE] * size
        first_duration = [-1] * size
        retry_passed: set[int] = set()
        od_seen: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
        attempts: list[tuple[int, int, int, int, int, int, int]] = []
        timelines: list[list[tuple[int, int, int]]] = []
        error_causes = (OUTAGE, CASCADE) if spec.style == "pytest" else ()
        skip, victims, polluters, cleaners, leaks = (
            self.skip,
            self.victims,
            self.polluters,
            self.cleaners,
            self.leaks,
        )
        retries = spec.retries
        wall = 0
        for w in range(n_workers):
            sequence = sequences[w]
            clock = setup[w]
            ran_polluters: set[int] = set()
            dirty: set[int] = set()
            leak_left = 0
            outage_at = NEVER if outage_from is None else int(outage_from * len(sequence))
            timeline: list[tuple[int, int, int]] = []
            for pos, j in enumerate(sequence):
                t = order_l[j]
                if skip[t]:
                    attempts.append((w, t, 1, SKIPPED, 0, clock, NONE))
                    first_out[t] = final_out[t] = SKIPPED
                    first_duration[t] = 0
                    clock += 1 + GAP_MS
                    continue
                cause = NONE
                if pos >= outage_at and u[j] < OUTAGE_FAIL_PROBABILITY:
                    cause = OUTAGE
                    leak_left = max(0, leak_left - 1)
                elif leak_left > 0:
                    cause = CASCADE
                    leak_left -= 1
                elif t in deterministic:
                    cause = deterministic[t]
                elif t in victims:
                    culprits, p_fail = victims[t]
                    if dirty.intersection(culprits) and u_od[j] < p_fail:
                        cause = OD
                if cause == NONE and t in flaky_rate and u[j] < flaky_rate[t]:
                    cause = LEAK if t in leaks else FLAKY
                if t in victims:
                    culprits = victims[t][0]
                    od_seen[t] = (
                        frozenset(ran_polluters.intersection(culprits)),
                        frozenset(dirty.intersection(culprits)),
                    )
                d = dur[j]
                if cause == NONE:
                    outcome = PASSED
                else:
                    outcome = ERROR if cause in error_causes else FAILED
                attempts.append((w, t, 1, outcome, d, clock, cause))
                first_out[t] = final_out[t] = outcome
                first_cause[t] = cause
                first_duration[t] = d
                timeline.append((t, outcome, cause))
                clock += d + GAP_MS
                if cause != NONE and retries:
                    # pytest-rerunfailures: the test runs again at once, on the same worker.
                    # A rerun sets its fixtures up afresh, so leaked state (cascade) and
                    # pollution (order dependence) are gone; what remains is the outage, the
                    # test's own deterministic failure, or its own non-determinism.
                    for attempt in range(2, retries + 2):
                        if cause == OUTAGE:
                            again_cause = OUTAGE if rng.random() < OUTAGE_FAIL_PROBABILITY else NONE
                        elif t in deterministic:
                            again_cause = deterministic[t]
                        elif t in flaky_rate:
                            again_cause = FLAKY if rng.random() < flaky_rate[t] else NONE
                            if again_cause == FLAKY and t in leaks:
                                again_cause = LEAK
                        else:
                            again_cause = NONE
                        again = again_cause != NONE
                        rd = max(
                            0,
                            round(
                                self.median[t]
                                * (1.0 if scale is None else scale[t])
                                * math.exp(self.sigma[t] * rng.standard_normal())
                            ),
                        )
                        out = (
                            (ERROR if again_cause in error_causes else FAILED) if again else PASSED
                        )
                        attempts.append((w, t, attempt, out, rd, clock, again_cause))
                        final_out[t] = out
                        clock += rd + GAP_MS
                        if not again:
                            retry_passed.add(t)
                            break
                if t in polluters:
                    ran_polluters.add(t)
                    dirty.add(t)
                cleaned = cleaners.get(t)
                if cleaned:
                    dirty.difference_update(cleaned)
                if cause == LEAK:
                    leak_left = leaks[t][1]
            timelines.append(timeline)
            wall = max(wall, clock)
        attempts.sort(key=itemgetter(5, 0))
        return RunOutcome(
            attempts=attempts,
            timelines=timelines,
            worker_names=self.worker_names,
            first_out=first_out,
            final_out=final_out,
            first_cause=first_cause,
            first_duration=first_duration,
            retry_passed=retry_passed,
            od_seen=od_seen,
            wall_ms=wall,
            outage=outage_from is not None,
            test_runs=n,
        )
