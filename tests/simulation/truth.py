"""The planted ground truth of a simulated history, and what the data lets a detector see of it.

Two layers:

* `planted`: each behaviour as it was planted (test, service, commit/time range, parameters).
* `findings`: what DESIGN.md's definitions should report, per ISO week, worked out from the
  outcomes that were actually generated. Each expected finding is either *required* (the data
  holds clear evidence in that week, with a margin over every threshold, so a correct detector
  must report it) or merely *allowed* (the behaviour is real and active around that week, so
  reporting it is not a false positive, but the evidence may fall short of a threshold or the
  detector may reasonably attach it to a neighbouring week).

  Recall is measured against `expected_findings` (required), precision against
  `allowed_findings` (required + allowed).

Week attribution, all weeks being ISO weeks of a run's start in UTC. Outage runs never count
as evidence. A failure "in a streak" sits inside >= 3 consecutive first-attempt failures on its
timeline, not at the head: a detector may take it for a cascade follower, so it never makes a
finding required.

  flaky               required in each week holding a flaky result of a planted flaky test (a
                      first-attempt failure from its own non-determinism, not in a streak, that
                      passed on retry in the run or on the first attempt in another run of the
                      same commit within 7 days); allowed from its first own failure to three
                      weeks after its last. Also allowed, never required: cascade roots; cascade
                      followers with a flaky result from a failure no required cascade explains;
                      victims with a flaky result in a week where no polluter is required yet.
  order_dependent     (victim, polluter) required in a week holding a failure that polluter
                      caused when, over the 27 days up to the week's end (outages and failures
                      in streaks set aside), the victim has >= 5 failing and >= 5 passing first
                      attempts and, on the executions no other polluter preceded, the table
                      "polluter ran earlier on the worker" x "victim failed" has a >= 3, a
                      one-sided Fisher p times the service's test count < 0.005 and a risk
                      difference >= 0.4; allowed in any week whose 28-day window holds a failure
                      it caused.
  cascade             root required in a week where its failure started >= 3 consecutive
                      first-attempt failures on its timeline whose followers' baseline product
                      (Laplace-smoothed 28-day failure rates, follower executions excluded) is
                      < 1e-4 under every baseline variant (the 28 days before the run's day or
                      up to it, outage runs in or out); allowed for any streak with a product
                      < 1e-2 under some variant, whoever heads it.
  regression          required in the week of the first non-outage main run at or after its
                      commit, when the last 5 first-attempt main runs before passed and that
                      failure is not in a streak; that week and the next allowed. Also allowed
                      (with the matching `fixed`): a flaky test, root or victim whose main
                      history looks like a regression (all attempts failed after 5 passes, and
                      the next main run failed too).
  fixed               required in the week of the third consecutive first-attempt pass on main
                      after the fix, for broken tests and for regressions that were required;
                      that week and the next allowed.
  duration_regression required (slowdowns) in the week of the first main run of the change
                      commit when >= 10 main commits with passed runs lie on each side; allowed
                      with >= 5 each side, for that week and the next two. Speed-ups are
                      `duration_improvement` the same way, and also allowed as
                      `duration_regression` for detectors that file improvements under it.

`budget_violation` has no truth: budgets are a project's settings, not a behaviour of its tests.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from array import array
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.simulation.behaviours import (
    CASCADE,
    ERROR,
    FAILED,
    FLAKY,
    LEAK,
    OD,
    PASSED,
    SKIPPED,
    RunOutcome,
    ServiceModel,
)
from tests.simulation.model import NEVER, SimConfig, TestId

UTC = dt.UTC
DAY = 86400.0
KINDS = (
    "flaky",
    "order_dependent",
    "cascade",
    "regression",
    "fixed",
    "duration_regression",
    "duration_improvement",
)


def week_label(moment: dt.datetime | dt.date) -> str:
    """ISO week `2026-W45` of a UTC moment (or a date)."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(UTC).date()
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(label: str) -> dt.date:
    year, week = label.split("-W")
    return dt.date.fromisocalendar(int(year), int(week), 1)


# --- Public truth records ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlantedEntry:
    """One planted behaviour.

    kind: flaky | order_dependent | cascade | regression | broken | slowdown | speedup | added |
          removed | renamed.
    test: the test carrying it (victim, cascade root, new identity of a renamed test).
    related: polluters (order_dependent), followers seen (cascade), old identity (renamed).
    from_*/until_*: the main commit (and its time) where it starts and stops applying; None for
    the start or end of history.
    """

    kind: str
    service: str
    test: TestId
    related: tuple[TestId, ...] = ()
    from_commit: str | None = None
    until_commit: str | None = None
    from_time: str | None = None
    until_time: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpectedFinding:
    kind: str
    service: str
    test: TestId
    related: TestId | None
    week: str
    required: bool
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, TestId, TestId | None]:
        return (self.service, self.test, self.related)


@dataclass(frozen=True)
class PassRates:
    """Exact service-week counts from the generated files.

    First-attempt and final outcomes of every test-run in the service's runs whose start falls
    in the week; `error` counts as failed; skipped never enters a rate.
    """

    service: str
    week: str
    runs: int = 0
    commits: int = 0
    results: int = 0  # attempt rows, retries included
    tests: int = 0  # distinct tests with any result (skipped included)
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    final_passed: int = 0
    final_failed: int = 0
    final_skipped: int = 0

    @property
    def pass_rate(self) -> float | None:
        decided = self.passed + self.failed
        return self.passed / decided if decided else None

    @property
    def final_pass_rate(self) -> float | None:
        decided = self.final_passed + self.final_failed
        return self.final_passed / decided if decided else None


@dataclass(frozen=True)
class TestInfo:
    __test__ = False

    service: str
    test: TestId
    first_seen: str
    last_seen: str
    roles: tuple[str, ...] = ()


@dataclass
class Truth:
    """Ground truth of one simulated history (see the module docstring)."""

    project: str
    seed: int
    profile: str
    reference_branch: str
    start: str
    now: str
    weeks: list[str]
    services: dict[str, dict[str, Any]]
    planted: list[PlantedEntry]
    findings: list[ExpectedFinding]
    service_weeks: dict[tuple[str, str], PassRates]
    tests: list[TestInfo]
    outages: list[dict[str, Any]]
    main_commits: list[tuple[str, str]] = field(default_factory=list)  # (sha, ISO time), in order
    totals: dict[str, int] = field(default_factory=dict)

    # --- Queries ----------------------------------------------------------------------------

    def findings_of(
        self, kind: str, week: str | None = None, required_only: bool = True
    ) -> list[ExpectedFinding]:
        _check_kind(kind)
        return [
            f
            for f in self.findings
            if f.kind == kind
            and (week is None or f.week == week)
            and (f.required or not required_only)
        ]

    def expected_findings(
        self, kind: str, week: str | None = None
    ) -> set[tuple[str, TestId, TestId | None]]:
        """(service, test, related test) a correct detector must report (recall's denominator).

        With `week`, only those due in that ISO week; without, over the whole history.
        """
        return {f.key for f in self.findings_of(kind, week)}

    def allowed_findings(
        self, kind: str, week: str | None = None
    ) -> set[tuple[str, TestId, TestId | None]]:
        """Everything a detector may report without it being a false positive (precision)."""
        return {f.key for f in self.findings_of(kind, week, required_only=False)}

    @property
    def noise_tests(self) -> set[tuple[str, TestId]]:
        """Tests with nothing planted of their own: they must never be a finding's `test`.

        Includes cascade followers (their failures are the root's), polluters and cleaners
        (they appear only as an order-dependence finding's `related_test`), renamed, added and
        removed tests, and always-skipped ones.
        """
        own = {"flaky", "order_dependent", "cascade", "regression", "broken", "slowdown", "speedup"}
        carriers = {(p.service, p.test) for p in self.planted if p.kind in own}
        return {(t.service, t.test) for t in self.tests} - carriers

    def planted_of(self, kind: str) -> list[PlantedEntry]:
        return [p for p in self.planted if p.kind == kind]

    def pass_rates(self, service: str, week: str) -> PassRates:
        """Exact first-attempt and final pass-rate counts of a service-week."""
        return self.service_weeks.get((service, week), PassRates(service, week))

    def service_names(self) -> list[str]:
        return list(self.services)

    def main_index(self) -> dict[str, int]:
        """Position of each reference-branch commit in the history (0 = first)."""
        return {sha: i for i, (sha, _) in enumerate(self.main_commits)}

    # --- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "project": self.project,
            "seed": self.seed,
            "profile": self.profile,
            "reference_branch": self.reference_branch,
            "start": self.start,
            "now": self.now,
            "weeks": self.weeks,
            "services": self.services,
            "totals": self.totals,
            "planted": [
                {**asdict(p), "test": p.test.as_dict(), "related": [r.as_dict() for r in p.related]}
                for p in self.planted
            ],
            "findings": [
                {
                    **asdict(f),
                    "test": f.test.as_dict(),
                    "related": f.related.as_dict() if f.related else None,
                }
                for f in self.findings
            ],
            "service_weeks": [
                {**asdict(r), "pass_rate": r.pass_rate, "final_pass_rate": r.final_pass_rate}
                for r in self.service_weeks.values()
            ],
            "tests": [
                {**asdict(t), "test": t.test.as_dict(), "roles": list(t.roles)} for t in self.tests
            ],
            "outages": self.outages,
            "main_commits": [list(c) for c in self.main_commits],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Truth:
        planted = [
            PlantedEntry(
                **{
                    **p,
                    "test": TestId.from_dict(p["test"]),
                    "related": tuple(TestId.from_dict(r) for r in p["related"]),
                }
            )
            for p in data["planted"]
        ]
        findings = [
            ExpectedFinding(
                **{
                    **f,
                    "test": TestId.from_dict(f["test"]),
                    "related": TestId.from_dict(f["related"]) if f["related"] else None,
                }
            )
            for f in data["findings"]
        ]
        weeks = {}
        for r in data["service_weeks"]:
            r = {k: v for k, v in r.items() if k not in ("pass_rate", "final_pass_rate")}
            weeks[(r["service"], r["week"])] = PassRates(**r)
        tests = [
            TestInfo(**{**t, "test": TestId.from_dict(t["test"]), "roles": tuple(t["roles"])})
            for t in data["tests"]
        ]
        return cls(
            project=data["project"],
            seed=data["seed"],
            profile=data["profile"],
            reference_branch=data["reference_branch"],
            start=data["start"],
            now=data["now"],
            weeks=data["weeks"],
            services=data["services"],
            planted=planted,
            findings=findings,
            service_weeks=weeks,
            tests=tests,
            outages=data["outages"],
            main_commits=[(c[0], c[1]) for c in data.get("main_commits", [])],
            totals=data.get("totals", {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> Truth:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _fisher_greater(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher exact p of the 2x2 table [[a, b], [c, d]] (alternative: greater)."""
    n, k, draws = a + b + c + d, a + c, a + b
    if n == 0:
        return 1.0
    tail = sum(math.comb(k, x) * math.comb(n - k, draws - x) for x in range(a, min(k, draws) + 1))
    return tail / math.comb(n, draws)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown finding kind {kind!r}; one of {', '.join(KINDS)}")


# --- Building the truth while the history is generated ----------------------------------------


@dataclass(slots=True)
class Obs:
    """One run of a tracked (planted) test."""

    seq: int
    ts: float
    day: int
    week: str
    on_main: bool
    sha: str
    base: int
    first: int
    final: int
    cause: int
    retry_passed: bool
    outage: bool
    before: frozenset[int] = frozenset()
    dirty: frozenset[int] = frozenset()
    # Failed inside a streak of >= 3 failures on its timeline, not at its head: a detector
    # may take it for a cascade follower, whatever its real cause.
    in_streak: bool = False


class _ObsStore:
    """The observations of one tracked test, packed in arrays: a year-long history holds
    millions of them, which as objects would cost hundreds of megabytes."""

    __slots__ = (
        "seq",
        "ts",
        "day",
        "week",
        "sha",
        "base",
        "first",
        "final",
        "cause",
        "flags",
        "before",
        "dirty",
    )

    _RETRY, _OUTAGE, _MAIN, _STREAK = 1, 2, 4, 8

    def __init__(self) -> None:
        self.seq = array("i")
        self.ts = array("d")
        self.day = array("i")
        self.week = array("h")
        self.sha = array("i")
        self.base = array("i")
        self.first = array("b")
        self.final = array("b")
        self.cause = array("b")
        self.flags = array("b")
        self.before = array("b")  # bit k: the k-th polluter of a victim ran before it
        self.dirty = array("b")

    def add(
        self,
        seq: int,
        ts: float,
        day: int,
        week: int,
        sha: int,
        base: int,
        first: int,
        final: int,
        cause: int,
        retry_passed: bool,
        outage: bool,
        on_main: bool,
        in_streak: bool,
        before: int,
        dirty: int,
    ) -> None:
        self.seq.append(seq)
        self.ts.append(ts)
        self.day.append(day)
        self.week.append(week)
        self.sha.append(sha)
        self.base.append(base)
        self.first.append(first)
        self.final.append(final)
        self.cause.append(cause)
        self.flags.append(
            retry_passed * self._RETRY
            | outage * self._OUTAGE
            | on_main * self._MAIN
            | in_streak * self._STREAK
        )
        self.before.append(before)
        self.dirty.append(dirty)

    def rows(self, weeks: list[str], shas: list[str], polluters: tuple[int, ...]) -> list[Obs]:
        def unmask(mask: int) -> frozenset[int]:
            if not mask:
                return _EMPTY
            return frozenset(p for k, p in enumerate(polluters) if mask >> k & 1)

        out = []
        for i in range(len(self.seq)):
            flags = self.flags[i]
            out.append(
                Obs(
                    self.seq[i],
                    self.ts[i],
                    self.day[i],
                    weeks[self.week[i]],
                    bool(flags & self._MAIN),
                    shas[self.sha[i]],
                    self.base[i],
                    self.first[i],
                    self.final[i],
                    self.cause[i],
                    bool(flags & self._RETRY),
                    bool(flags & self._OUTAGE),
                    unmask(self.before[i]),
                    unmask(self.dirty[i]),
                    bool(flags & self._STREAK),
                )
            )
        return out


_EMPTY: frozenset[int] = frozenset()


@dataclass(slots=True)
class _Streak:
    service: int
    seq: int
    day: int
    week: str
    head: int
    head_cause: int
    followers: tuple[int, ...]
    follower_causes: tuple[int, ...]


class _WeekCounts:
    __slots__ = ("runs", "commits", "results", "tests", "first", "final")

    def __init__(self, n: int) -> None:
        self.runs = 0
        self.commits: set[str] = set()
        self.results = 0
        self.tests = np.zeros(n, dtype=bool)
        self.first = np.zeros(4, dtype=np.int64)
        self.final = np.zeros(4, dtype=np.int64)


class TruthBuilder:
    """Accumulates, run by run, what the truth needs; memory stays small for long histories."""

    def __init__(
        self,
        config: SimConfig,
        models: list[ServiceModel],
        main_commits: list[tuple[str, dt.datetime]],
    ) -> None:
        self.config = config
        self.models = models
        self.main_commits = main_commits
        self.start = config.start
        self.start_date = self.start.date()
        self.days = (config.now.astimezone(UTC).date() - self.start_date).days + 1
        shape = [(m.n, self.days) for m in models]
        # Per test and day: decided first attempts and failures, cascade followers left out,
        # split by whether the run was an outage (baselines may or may not count those).
        self.dec = [np.zeros(s, dtype=np.int32) for s in shape]
        self.fail = [np.zeros(s, dtype=np.int32) for s in shape]
        self.dec_outage = [np.zeros(s, dtype=np.int32) for s in shape]
        self.fail_outage = [np.zeros(s, dtype=np.int32) for s in shape]
        self.first_seen = [np.full(m.n, -1.0) for m in models]
        self.last_seen = [np.full(m.n, -1.0) for m in models]
        self.weeks: dict[tuple[int, str], _WeekCounts] = {}
        self.tracked: list[list[int]] = [sorted(m.planted_tests()) for m in models]
        self.obs: dict[tuple[int, int], _ObsStore] = defaultdict(_ObsStore)
        self._week_ids: dict[str, int] = {}
        self._week_names: list[str] = []
        self._sha_ids: dict[str, int] = {}
        self._shas: list[str] = []
        self.streaks: list[_Streak] = []
        self.followers: dict[tuple[int, int], Counter[int]] = defaultdict(Counter)
        # Each cascade follower's failure: (service, seq, test, sha, ts, week, passed on retry,
        # index of the failure streak holding it or -1).
        self.follower_events: list[tuple[int, int, int, str, float, str, bool, int]] = []
        # First-attempt outcomes of every non-outage run, by (service, commit), for the
        # "another run of the same commit passed it" half of a flaky result.
        self.commit_runs: dict[tuple[int, str], list[tuple[float, np.ndarray]]] = defaultdict(list)
        self.outages: list[dict[str, Any]] = []
        self.total_runs = 0
        self.total_results = 0

    def observe(
        self,
        service: int,
        seq: int,
        sha: str,
        branch: str,
        base: int,
        started: dt.datetime,
        outcome: RunOutcome,
        meta: dict[str, Any],
    ) -> None:
        model = self.models[service]
        ts = started.timestamp()
        day = (started.date() - self.start_date).days
        week = week_label(started)
        counts = self.weeks.get((service, week))
        if counts is None:
            counts = self.weeks[(service, week)] = _WeekCounts(model.n)
        first = np.asarray(outcome.first_out, dtype=np.int8)
        final = np.asarray(outcome.final_out, dtype=np.int8)
        ran = first >= 0
        counts.runs += 1
        counts.commits.add(sha)
        counts.results += len(outcome.attempts)
        counts.tests |= ran
        counts.first += np.bincount(first[ran], minlength=4)[:4]
        counts.final += np.bincount(final[ran], minlength=4)[:4]
        self.total_runs += 1
        self.total_results += len(outcome.attempts)

        cause = np.asarray(outcome.first_cause, dtype=np.int8)
        decided = ran & (first != SKIPPED) & (cause != CASCADE)
        failed = decided & ((first == FAILED) | (first == ERROR))
        dec, fail = (self.dec_outage, self.fail_outage) if outcome.outage else (self.dec, self.fail)
        dec[service][decided, day] += 1
        fail[service][failed, day] += 1
        fs = self.first_seen[service]
        fs[ran & (fs < 0)] = ts
        self.last_seen[service][ran] = ts

        in_streaks: set[int] = set()
        if outcome.outage:
            self.outages.append({**meta, "service": model.spec.name, "week": week})
        else:
            self.commit_runs[(service, sha)].append((ts, first))
            for timeline in outcome.timelines:
                in_streaks |= self._scan(
                    service, seq, sha, ts, day, week, timeline, outcome.retry_passed
                )

        on_main = branch == self.config.reference_branch
        week_id = self._week_ids.get(week)
        if week_id is None:
            week_id = self._week_ids[week] = len(self._week_names)
            self._week_names.append(week)
        sha_id = self._sha_ids.get(sha)
        if sha_id is None:
            sha_id = self._sha_ids[sha] = len(self._shas)
            self._shas.append(sha)
        for t in self.tracked[service]:
            f = outcome.first_out[t]
            if f < 0:
                continue
            before = dirty = 0
            seen = outcome.od_seen.get(t)
            if seen is not None:
                for k, p in enumerate(model.victims[t][0]):
                    before |= (p in seen[0]) << k
                    dirty |= (p in seen[1]) << k
            self.obs[(service, t)].add(
                seq,
                ts,
                day,
                week_id,
                sha_id,
                base,
                f,
                outcome.final_out[t],
                outcome.first_cause[t],
                t in outcome.retry_passed,
                outcome.outage,
                on_main,
                t in in_streaks,
                before,
                dirty,
            )

    def _scan(
        self,
        service: int,
        seq: int,
        sha: str,
        ts: float,
        day: int,
        week: str,
        timeline: list[tuple[int, int, int]],
        retry_passed: set[int],
    ) -> set[int]:
        """Record failure streaks (>= 3) and which tests followed a leaking root.

        Returns the tests failing inside a streak other than at its head."""
        streak_at: dict[int, int] = {}
        start = -1
        n = len(timeline)
        for k in range(n + 1):
            failing = k < n and timeline[k][1] in (FAILED, ERROR)
            if failing:
                if start < 0:
                    start = k
            elif start >= 0:
                if k - start >= 3:
                    part = timeline[start:k]
                    for pos in range(start, k):
                        streak_at[pos] = len(self.streaks)
                    self.streaks.append(
                        _Streak(
                            service,
                            seq,
                            day,
                            week,
                            part[0][0],
                            part[0][2],
                            tuple(p[0] for p in part[1:]),
                            tuple(p[2] for p in part[1:]),
                        )
                    )
                start = -1
        root = -1
        for k, (t, _out, cause) in enumerate(timeline):
            if cause == LEAK:
                root = t
            elif cause == CASCADE and root >= 0:
                self.followers[(service, root)][t] += 1
                self.follower_events.append(
                    (service, seq, t, sha, ts, week, t in retry_passed, streak_at.get(k, -1))
                )
            else:
                root = -1
        return {timeline[k][0] for k, i in streak_at.items() if streak_at.get(k - 1) == i}

    # --- Finishing --------------------------------------------------------------------------

    def _when(self, commit: int) -> tuple[str | None, str | None]:
        if commit <= 0 or commit >= NEVER or commit >= len(self.main_commits):
            return None, None
        sha, at = self.main_commits[commit]
        return sha, at.isoformat()

    def _history_weeks(self) -> list[str]:
        weeks = []
        day = self.start_date
        end = self.config.now.astimezone(UTC).date()
        while day <= end:
            weeks.append(week_label(day))
            day += dt.timedelta(days=7)
        return weeks

    def finish(self) -> Truth:
        weeks = self._history_weeks()
        week_index = {w: i for i, w in enumerate(weeks)}
        findings: list[ExpectedFinding] = []
        planted: list[PlantedEntry] = []
        models = self.models

        def add(
            kind: str,
            s: int,
            test: int,
            related: int | None,
            week: str,
            required: bool,
            **evidence: Any,
        ) -> None:
            m = models[s]
            findings.append(
                ExpectedFinding(
                    kind,
                    m.spec.name,
                    m.ident(test),
                    m.ident(related) if related is not None else None,
                    week,
                    required,
                    evidence,
                )
            )

        def later(week: str, n: int) -> list[str]:
            i = week_index[week]
            return weeks[i + 1 : i + 1 + n]

        for s, model in enumerate(models):
            name = model.spec.name
            for p in model.planted:
                start_sha, start_at = self._when(p.start)
                end_sha, end_at = self._when(p.end)
                params = dict(p.params)
                related = tuple(model.ident(r) for r in p.related)
                if p.kind == "order_dependent":
                    params["cleaners"] = {
                        str(model.ident(int(pol))): [model.ident(c).as_dict() for c in cl]
                        for pol, cl in p.params.get("cleaners", {}).items()
                    }
                if p.kind == "cascade":
                    seen = self.followers.get((s, p.test), Counter())
                    ordered = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
                    related = tuple(model.ident(t) for t, _ in ordered)
                    params["followers"] = [
                        {"test": model.ident(t).as_dict(), "times": c} for t, c in ordered
                    ]
                planted.append(
                    PlantedEntry(
                        p.kind,
                        name,
                        model.ident(p.test),
                        related,
                        start_sha,
                        end_sha,
                        start_at,
                        end_at,
                        params,
                    )
                )
                store = self.obs.get((s, p.test))
                obs = (
                    []
                    if store is None
                    else store.rows(
                        self._week_names, self._shas, model.victims.get(p.test, ((), 0))[0]
                    )
                )
                if p.kind in ("flaky", "cascade"):
                    self._flaky_findings(s, p.test, obs, p.kind == "flaky", add, later)
                if p.kind == "order_dependent":
                    self._od_findings(s, p.test, p.related, obs, weeks, add)
                if p.kind == "regression":
                    found = self._regression_findings(s, p.test, p.start, obs, add, later)
                    if found is not None and p.end < NEVER:
                        # A detector that could miss the regression may miss its fix too.
                        self._fixed_findings(s, p.test, p.end, obs, add, later, required=found)
                if p.kind == "broken":
                    self._fixed_findings(s, p.test, p.end, obs, add, later, required=True)
                if p.kind in ("slowdown", "speedup"):
                    self._duration_findings(s, p.test, p.start, p.kind, obs, add, later)
                if p.kind in ("flaky", "cascade", "order_dependent"):
                    self._lookalike_regressions(s, p.test, obs, add, later)
        recognised = self._cascade_findings(add)
        self._follower_flaky_findings(recognised, add)

        service_weeks: dict[tuple[str, str], PassRates] = {}
        for (s, week), c in sorted(self.weeks.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            name = models[s].spec.name
            service_weeks[(name, week)] = PassRates(
                name,
                week,
                c.runs,
                len(c.commits),
                c.results,
                int(c.tests.sum()),
                int(c.first[PASSED]),
                int(c.first[FAILED] + c.first[ERROR]),
                int(c.first[SKIPPED]),
                int(c.final[PASSED]),
                int(c.final[FAILED] + c.final[ERROR]),
                int(c.final[SKIPPED]),
            )

        tests: list[TestInfo] = []
        for s, model in enumerate(models):
            roles: dict[int, list[str]] = defaultdict(list)
            for p in model.planted:
                roles[p.test].append(p.kind)
                if p.kind == "order_dependent":
                    for r in p.related:
                        roles[r].append("polluter")
            for cleaner in model.cleaners:
                roles[cleaner].append("cleaner")
            for (fs, _root), seen in self.followers.items():
                if fs == s:
                    for t in seen:
                        roles[t].append("cascade_follower")
            for d in model.defs:
                if d.skip:
                    roles[d.idx].append("skipped")
            fs_arr, ls_arr = self.first_seen[s], self.last_seen[s]
            for t in range(model.n):
                if fs_arr[t] < 0:
                    continue
                tests.append(
                    TestInfo(
                        model.spec.name,
                        model.ident(t),
                        dt.datetime.fromtimestamp(fs_arr[t], UTC).isoformat(),
                        dt.datetime.fromtimestamp(ls_arr[t], UTC).isoformat(),
                        tuple(sorted(set(roles.get(t, ())))),
                    )
                )

        services = {
            m.spec.name: {
                "style": m.spec.style,
                "format": m.spec.format,
                "gzip": m.spec.gzip,
                "workers": m.worker_names,
                "retries": m.spec.retries,
                "tests": m.spec.tests,
            }
            for m in models
        }
        findings.sort(key=lambda f: (f.kind, f.service, f.week, f.test, f.related or ()))
        return Truth(
            project=self.config.project,
            seed=self.config.seed,
            profile=self.config.profile,
            reference_branch=self.config.reference_branch,
            start=self.start.isoformat(),
            now=self.config.now.astimezone(UTC).isoformat(),
            weeks=weeks,
            services=services,
            planted=planted,
            findings=findings,
            service_weeks=service_weeks,
            tests=tests,
            outages=self.outages,
            main_commits=[(sha, at.isoformat()) for sha, at in self.main_commits],
            totals={
                "runs": self.total_runs,
                "results": self.total_results,
                "main_commits": len(self.main_commits),
            },
        )

    # --- Per-kind evidence ------------------------------------------------------------------

    def _flaky_findings(
        self, s: int, test: int, obs: list[Obs], required_kind: bool, add: Any, later: Any
    ) -> None:
        """Flaky results of a test with its own non-determinism (a flaky test or a root)."""
        passes: dict[str, list[float]] = defaultdict(list)
        for o in obs:
            if not o.outage and o.first == PASSED:
                passes[o.sha].append(o.ts)
        own_weeks: list[str] = []
        result_weeks: dict[str, int] = Counter()
        for o in obs:
            if o.outage or o.cause not in (FLAKY, LEAK):
                continue
            own_weeks.append(o.week)
            same_commit = any(abs(ts - o.ts) <= 7 * DAY for ts in passes.get(o.sha, ()))
            # Inside a failure streak it may pass for a cascade follower: allowed only.
            if (o.retry_passed or same_commit) and not o.in_streak:
                result_weeks[o.week] += 1
        if not own_weeks:
            return
        for week, n in result_weeks.items():
            add("flaky", s, test, None, week, required_kind, flaky_results=n)
        span = sorted(set(own_weeks))
        allowed = set()
        for week in span:
            allowed.add(week)
            allowed.update(later(week, 3))
        for week in sorted(allowed - set(result_weeks)):
            add("flaky", s, test, None, week, False)

    def _od_findings(
        self,
        s: int,
        victim: int,
        polluters: tuple[int, ...],
        obs: list[Obs],
        weeks: list[str],
        add: Any,
    ) -> None:
        decided = [o for o in obs if not o.outage and o.first != SKIPPED]
        # Failures as a cascade follower are the root's; a detector may well set them aside.
        own = [o for o in decided if o.cause != CASCADE and not o.in_streak]
        m = self.models[s].n  # candidates a detector tests: at most every test of the service
        required_weeks: set[str] = set()
        for week in weeks:
            end = dt.datetime.combine(
                week_monday(week) + dt.timedelta(days=7), dt.time(0), tzinfo=UTC
            ).timestamp()
            near = [o for o in own if end - 27 * DAY <= o.ts < end]
            wide = [o for o in decided if end - 28 * DAY <= o.ts < end]
            fails = sum(1 for o in near if o.first != PASSED)
            passes = sum(1 for o in near if o.first == PASSED)
            for p in polluters:
                others = set(polluters) - {p}
                # The polluter's own 2x2 table, on the executions no other polluter preceded
                # (stricter than explain-away, which drops only the chosen ones).
                a = b = c = d = 0
                for o in near:
                    if others.intersection(o.before):
                        continue
                    fail = o.first != PASSED
                    if p in o.before:
                        a, b = a + fail, b + (not fail)
                    else:
                        c, d = c + fail, d + (not fail)
                significance = _fisher_greater(a, b, c, d) * m  # Bonferroni bounds BH's q
                risk = a / (a + b) - (c / (c + d) if c + d else 0.0) if a + b else 0.0
                this_week = any(o.cause == OD and p in o.dirty and o.week == week for o in near)
                caused = sum(1 for o in wide if o.cause == OD and p in o.dirty)
                evidence = {"failures": fails, "passes": passes, "table": [a, b, c, d]}
                if (
                    fails >= 5
                    and passes >= 5
                    and a >= 3
                    and significance < 0.005
                    and risk >= 0.4
                    and this_week
                ):
                    add("order_dependent", s, victim, p, week, True, **evidence)
                    required_weeks.add(week)
                elif caused:
                    add("order_dependent", s, victim, p, week, False, **evidence)
        # Where no polluter explains the victim yet, its failures look like plain flakiness.
        passes_by_commit: dict[str, list[float]] = defaultdict(list)
        for o in decided:
            if o.first == PASSED:
                passes_by_commit[o.sha].append(o.ts)
        looks_flaky: set[str] = set()
        for o in decided:
            if o.first == PASSED or o.week in required_weeks:
                continue
            if o.retry_passed or any(
                abs(ts - o.ts) <= 7 * DAY for ts in passes_by_commit.get(o.sha, ())
            ):
                looks_flaky.add(o.week)
        for week in sorted(looks_flaky):
            add("flaky", s, victim, None, week, False, unexplained_victim=True)

    def _cascade_findings(self, add: Any) -> set[int]:
        """Cascade findings; returns the streaks clear enough to be required."""
        recognised: set[int] = set()
        for index, st in enumerate(self.streaks):
            model = self.models[st.service]
            products = []
            for lo, hi in ((st.day - 28, st.day), (st.day - 27, st.day + 1)):
                lo = max(0, lo)
                for with_outages in (False, True):
                    product = 1.0
                    for f in st.followers:
                        n = int(self.dec[st.service][f, lo:hi].sum())
                        k = int(self.fail[st.service][f, lo:hi].sum())
                        if with_outages:
                            n += int(self.dec_outage[st.service][f, lo:hi].sum())
                            k += int(self.fail_outage[st.service][f, lo:hi].sum())
                        product *= (k + 1) / (n + 2)
                    products.append(product)
            planted_root = (
                st.head in model.leaks
                and st.head_cause == LEAK
                and st.follower_causes[0] == CASCADE
            )
            worst, best = max(products), min(products)
            evidence = {
                "length": len(st.followers) + 1,
                "product": float(f"{worst:.3g}"),
                "run": st.seq,
            }
            if planted_root and worst < 1e-4:
                add("cascade", st.service, st.head, None, st.week, True, **evidence)
                recognised.add(index)
            elif best < 1e-2:
                add("cascade", st.service, st.head, None, st.week, False, **evidence)
        return recognised

    def _follower_flaky_findings(self, recognised: set[int], add: Any) -> None:
        """A follower's failure that no cascade explains clearly (too short a streak, too
        little history for its baseline) looks flaky: allowed, never required."""
        for s, seq, test, sha, ts, week, retry_passed, streak in self.follower_events:
            if streak in recognised:
                continue
            flaky = retry_passed or any(
                abs(other - ts) <= 7 * DAY and first[test] == PASSED
                for other, first in self.commit_runs.get((s, sha), ())
            )
            if flaky:
                add("flaky", s, test, None, week, False, follower_run=seq)

    def _regression_findings(
        self, s: int, test: int, commit: int, obs: list[Obs], add: Any, later: Any
    ) -> bool | None:
        """Regression findings; True when required, False when only allowed, None if none."""
        main = [o for o in obs if o.on_main]
        for i, o in enumerate(main):
            if o.base < commit or o.outage:
                continue
            if o.final not in (FAILED, ERROR):
                return False
            before = [x for x in main[:i] if x.base < commit and x.first != SKIPPED][-5:]
            clean = len(before) == 5 and all(x.first == PASSED for x in before) and not o.in_streak
            add("regression", s, test, None, o.week, clean, first_run=o.seq)
            for week in later(o.week, 1):
                add("regression", s, test, None, week, False, first_run=o.seq)
            return clean
        return None

    def _lookalike_regressions(
        self, s: int, test: int, obs: list[Obs], add: Any, later: Any
    ) -> None:
        """Allow `regression`/`fixed` where a non-deterministic test's main history looks like
        one: every attempt failed after 5 first-attempt passes, and the next main run failed
        too. Until the test is known to be flaky, DESIGN's definition reports exactly that."""
        main = [o for o in obs if o.on_main and not o.outage and o.first != SKIPPED]
        for i, o in enumerate(main):
            if o.final not in (FAILED, ERROR) or o.cause == CASCADE or i < 5 or i + 1 >= len(main):
                continue
            if not all(x.first == PASSED for x in main[i - 5 : i]):
                continue
            if main[i + 1].first not in (FAILED, ERROR):
                continue
            for week in [o.week, *later(o.week, 1)]:
                add("regression", s, test, None, week, False, first_run=o.seq, lookalike=True)
            streak = 0
            for x in main[i + 1 :]:
                streak = streak + 1 if x.first == PASSED else 0
                if streak == 3:
                    for week in [x.week, *later(x.week, 1)]:
                        add(
                            "fixed",
                            s,
                            test,
                            None,
                            week,
                            False,
                            third_pass_run=x.seq,
                            lookalike=True,
                        )
                    break

    def _fixed_findings(
        self, s: int, test: int, fix: int, obs: list[Obs], add: Any, later: Any, required: bool
    ) -> None:
        if fix >= NEVER:
            return
        streak = 0
        for o in obs:
            if not o.on_main or o.base < fix or o.first == SKIPPED:
                continue
            if o.first == PASSED:
                streak += 1
                if streak == 3:
                    add("fixed", s, test, None, o.week, required, third_pass_run=o.seq)
                    for week in later(o.week, 1):
                        add("fixed", s, test, None, week, False, third_pass_run=o.seq)
                    return
            else:
                streak = 0

    def _duration_findings(
        self, s: int, test: int, commit: int, kind: str, obs: list[Obs], add: Any, later: Any
    ) -> None:
        main = [o for o in obs if o.on_main]
        before = {o.sha for o in main if o.first == PASSED and o.base < commit}
        after = {o.sha for o in main if o.first == PASSED and o.base >= commit}
        first = next((o for o in main if o.base >= commit), None)
        if first is None or len(before) < 5 or len(after) < 5:
            return
        required = len(before) >= 10 and len(after) >= 10
        name = "duration_regression" if kind == "slowdown" else "duration_improvement"
        evidence = {"points_before": len(before), "points_after": len(after)}
        add(name, s, test, None, first.week, required, **evidence)
        for week in later(first.week, 2):
            add(name, s, test, None, week, False, **evidence)
        if kind == "speedup":
            for week in [first.week, *later(first.week, 2)]:
                add("duration_regression", s, test, None, week, False, **evidence)
