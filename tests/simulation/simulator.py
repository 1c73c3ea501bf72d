"""The CI history: commits, pipelines, job re-runs and outages, played in time order.

Each pipeline (one per commit, on main or a feature branch) runs every service's suite as its
own job, which makes one upload. A job whose final outcome failed is sometimes re-run on the same
commit a little later. Runs come out in the order of their start time, which is upload order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from tests.simulation.behaviours import ERROR, FAILED, PASSED, SKIPPED, ServiceModel
from tests.simulation.model import SimConfig
from tests.simulation.truth import Truth, TruthBuilder
from tests.simulation.writers import RunContext, render

UTC = dt.UTC

_TOPICS = (
    "warmup",
    "token-refresh",
    "pagination",
    "retry-budget",
    "metrics",
    "quota",
    "session-limit",
    "captions",
    "key-rotation",
    "scanner",
    "thumbnails",
    "logging",
    "timeouts",
    "device-names",
    "eviction",
    "webhooks",
)


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    branch: str
    at: dt.datetime
    base: int  # the main commit index whose code this commit holds
    main_index: int  # -1 on feature branches


@dataclass(frozen=True, slots=True)
class Pipeline:
    number: int
    commit: Commit
    at: dt.datetime
    offsets: tuple[int, ...]  # seconds from pipeline start to each service's job start


@dataclass(frozen=True)
class SimRun:
    """One upload: a service's report from one CI job, with the fields the upload API takes."""

    seq: int  # 1-based, in upload (= start time) order
    project: str
    service: str
    commit: str
    branch: str
    build_id: str
    job: str
    build_url: str
    started_at: str  # ISO 8601, UTC
    environment: str
    rerun: int  # 0 = the pipeline's own job; n = its n-th re-run on the same commit
    outage: bool
    files: tuple[tuple[str, bytes], ...]
    counts: dict[str, int]

    def form_fields(self) -> dict[str, str]:
        """The multipart fields of POST /api/v1/uploads for this run (files apart)."""
        return {
            "project": self.project,
            "service": self.service,
            "commit": self.commit,
            "branch": self.branch,
            "build_id": self.build_id,
            "job": self.job,
            "build_url": self.build_url,
            "started_at": self.started_at,
            "environment": self.environment,
        }

    def manifest_entry(self, directory: str = "runs") -> dict[str, Any]:
        return {
            "seq": self.seq,
            **self.form_fields(),
            "rerun": self.rerun,
            "outage": self.outage,
            "files": [f"{directory}/{name}" for name, _ in self.files],
            "counts": self.counts,
        }


@dataclass
class History:
    """A whole simulated history held in memory (test and demo sizes)."""

    config: SimConfig
    runs: list[SimRun]
    truth: Truth


def _sha(config: SimConfig, branch: str, k: int) -> str:
    return hashlib.sha1(f"{config.seed}/{config.project}/{branch}/{k}".encode()).hexdigest()


def _working_time(moment: dt.datetime, rng: np.random.Generator) -> dt.datetime:
    """Move a moment forward into weekday working hours (08:00-18:00 UTC)."""
    while moment.weekday() >= 5 or moment.hour >= 18:
        nxt = moment.date() + dt.timedelta(days=1)
        moment = dt.datetime.combine(nxt, dt.time(8, 0), tzinfo=UTC) + dt.timedelta(
            minutes=int(rng.integers(0, 120))
        )
    if moment.hour < 8:
        moment = moment.replace(hour=8, minute=int(rng.integers(0, 60)))
    return moment


def build_schedule(config: SimConfig) -> tuple[list[Commit], list[Pipeline]]:
    """Main's commits and every pipeline (main and feature branches), in time order."""
    rng = np.random.default_rng([config.seed, 1])
    start, now = config.start, config.now.astimezone(UTC)
    days = (now.date() - start.date()).days + 1
    main_times: list[dt.datetime] = []
    for day in range(days):
        date = start.date() + dt.timedelta(days=day)
        if date.weekday() >= 5:
            continue
        k = max(1, int(rng.poisson(config.commits_per_weekday)))
        seconds = np.sort(rng.integers(8 * 3600, 18 * 3600, size=k))
        for sec in seconds.tolist():
            moment = dt.datetime.combine(date, dt.time(0), tzinfo=UTC) + dt.timedelta(seconds=sec)
            if moment <= now:
                main_times.append(moment)
    main = [
        Commit(_sha(config, config.reference_branch, i), config.reference_branch, t, i, i)
        for i, t in enumerate(main_times)
    ]

    feature: list[Commit] = []
    number = 100
    for week in range(config.weeks):
        for _ in range(int(rng.poisson(config.feature_branches_per_week))):
            number += 1
            day = start + dt.timedelta(days=week * 7 + int(rng.integers(0, 5)))
            at = day + dt.timedelta(seconds=int(rng.integers(8 * 3600, 18 * 3600)))
            base = -1
            for c in main:
                if c.at > at:
                    break
                base = c.main_index
            kind = ("feature", "fix", "chore")[int(rng.integers(0, 3))]
            branch = f"{kind}/{_TOPICS[int(rng.integers(len(_TOPICS)))]}-{number}"
            lo, hi = config.feature_commits
            for k in range(int(rng.integers(lo, hi + 1))):
                if k:
                    at = _working_time(
                        at + dt.timedelta(seconds=int(rng.integers(1800, 20 * 3600))), rng
                    )
                if base < 0 or at > now:
                    break
                feature.append(Commit(_sha(config, branch, k), branch, at, base, -1))

    pipelines: list[Pipeline] = []
    n_services = len(config.services)
    for c in sorted(main + feature, key=lambda c: (c.at, c.sha)):
        at = c.at + dt.timedelta(seconds=int(rng.integers(30, 240)))
        offsets = tuple(int(x) for x in rng.integers(5, 90, size=n_services))
        pipelines.append(Pipeline(0, c, at, offsets))
    pipelines = [Pipeline(4000 + i, p.commit, p.at, p.offsets) for i, p in enumerate(pipelines)]
    return main, pipelines


def choose_outages(config: SimConfig, pipelines: list[Pipeline]) -> dict[tuple[int, int], float]:
    """(pipeline number, service index) -> share of each worker's tests run before the outage."""
    rng = np.random.default_rng([config.seed, 4])
    eligible = pipelines[len(pipelines) // 10 :]
    if not eligible or config.outages <= 0:
        return {}
    picks = rng.choice(len(eligible), size=min(config.outages, len(eligible)), replace=False)
    chosen: dict[tuple[int, int], float] = {}
    n = len(config.services)
    for k in sorted(int(x) for x in picks):
        p = eligible[k]
        services = range(n) if rng.random() < 0.5 else [int(rng.integers(0, n))]
        frac = float(rng.uniform(0.0, 0.2))
        for s in services:
            chosen[(p.number, s)] = frac
    return chosen


class Simulator:
    """Plays a configured history. Iterate `runs()` once; `truth` is ready afterwards.

    Runs are produced one at a time, so a caller that writes each one out and drops it keeps
    memory flat however long the history is.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.main, self.pipelines = build_schedule(config)
        if not self.main:
            raise ValueError("the history holds no commit on main before `now`")
        self.models = [
            ServiceModel(spec, i, len(self.main), config.seed, config.skip_share)
            for i, spec in enumerate(config.services)
        ]
        self.outages = choose_outages(config, self.pipelines)
        self._builder = TruthBuilder(config, self.models, [(c.sha, c.at) for c in self.main])
        self._truth: Truth | None = None
        self._started = False

    @property
    def truth(self) -> Truth:
        if self._truth is None:
            raise RuntimeError("the truth is known once runs() has been iterated to the end")
        return self._truth

    def runs(self) -> Iterator[SimRun]:
        if self._started:
            raise RuntimeError("runs() can be iterated once per Simulator")
        self._started = True
        config = self.config
        now = config.now.astimezone(UTC)
        by_number = {p.number: p for p in self.pipelines}
        heap: list[tuple[dt.datetime, int, int, int]] = []
        for p in self.pipelines:
            for s in range(len(self.models)):
                at = p.at + dt.timedelta(seconds=p.offsets[s])
                if at <= now:
                    heap.append((at, p.number, s, 0))
        heapq.heapify(heap)
        seq = 0
        while heap:
            at, number, s, rerun = heapq.heappop(heap)
            pipeline = by_number[number]
            commit = pipeline.commit
            model = self.models[s]
            service = model.spec.name
            rng = np.random.default_rng([config.seed, 5, number, s, rerun])
            outage_from = self.outages.get((number, s)) if rerun == 0 else None
            outcome = model.execute(commit.base, rng, outage_from)
            seq += 1
            job = f"test-{service}" + (f" (rerun {rerun})" if rerun else "")
            url = f"{config.ci_url}/{config.project}/builds/{number}/jobs/test-{service}"
            if rerun:
                url += f"/attempts/{rerun + 1}"
            ctx = RunContext(
                config.project, service, commit.sha, commit.branch, str(number), job, url, at, seq
            )
            ext, data = render(model, ctx, outcome)
            filename = f"{seq:06d}-{service}.{ext}"
            ctrf = model.spec.format == "ctrf"
            tally = Counter(map(itemgetter(3), outcome.attempts))
            counts = {
                "results": len(outcome.attempts),
                "passed": tally[PASSED],
                "failed": tally[FAILED] + (tally[ERROR] if ctrf else 0),
                "error": 0 if ctrf else tally[ERROR],
                "skipped": tally[SKIPPED],
                "test_runs": outcome.test_runs,
            }
            run = SimRun(
                seq,
                config.project,
                service,
                commit.sha,
                commit.branch,
                str(number),
                job,
                url,
                at.isoformat(),
                "ci",
                rerun,
                outcome.outage,
                ((filename, data),),
                counts,
            )
            self._builder.observe(
                s,
                seq,
                commit.sha,
                commit.branch,
                commit.base,
                at,
                outcome,
                {
                    "seq": seq,
                    "build_id": str(number),
                    "job": job,
                    "commit": commit.sha,
                    "started_at": at.isoformat(),
                },
            )
            failed = any(f in (FAILED, ERROR) for f in outcome.final_out)
            if failed and rerun < config.max_job_reruns:
                chance = (
                    config.outage_rerun_probability
                    if outcome.outage
                    else config.job_rerun_probability
                )
                if rng.random() < chance:
                    later = at + dt.timedelta(seconds=int(rng.integers(15 * 60, 90 * 60)))
                    if later <= now:
                        heapq.heappush(heap, (later, number, s, rerun + 1))
            yield run
        self._truth = self._builder.finish()


def iter_runs(config: SimConfig) -> tuple[Simulator, Iterator[SimRun]]:
    """A simulator and its run stream; read `simulator.truth` after exhausting the stream."""
    sim = Simulator(config)
    return sim, sim.runs()


def simulate(config: SimConfig) -> History:
    """Generate a whole history in memory."""
    sim = Simulator(config)
    runs = list(sim.runs())
    return History(config, runs, sim.truth)


def write_history(config: SimConfig, out: str | Path) -> Truth:
    """Write runs/<seq>-<service>.<ext>, manifest.json and truth.json under `out`, streaming.

    manifest.json lists every run's upload fields and files in upload order; truth.json is
    Truth.to_json() (load it with Truth.load).
    """
    out = Path(out)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    sim = Simulator(config)
    head = {
        "project": config.project,
        "profile": config.profile,
        "seed": config.seed,
        "now": config.now.astimezone(UTC).isoformat(),
        "reference_branch": config.reference_branch,
        "services": [s.name for s in config.services],
    }
    with open(out / "manifest.json", "w", encoding="utf-8") as manifest:
        text = json.dumps(head, indent=1, sort_keys=True)
        manifest.write(text[:-2] + ',\n "runs": [')
        first = True
        for run in sim.runs():
            for name, data in run.files:
                (runs_dir / name).write_bytes(data)
            manifest.write(
                ("\n  " if first else ",\n  ") + json.dumps(run.manifest_entry(), sort_keys=True)
            )
            first = False
        manifest.write("\n ]\n}\n")
    sim.truth.save(out / "truth.json")
    return sim.truth
