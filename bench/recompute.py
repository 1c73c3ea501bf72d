"""Recompute benchmark: does processing one upload cost the same with 1 week or 52 weeks of history?

    .venv/bin/python bench/recompute.py [--services 1] [--scale 0.5]

Builds projects on a scratch PostgreSQL database from the CI simulator (tests/simulation): with
1, 8 and 52 weeks of history, the same services and suite size. Then, in each,
times one new upload of the same size from receipt to its service-week recomputed (parse, load,
recompute of the touched service-weeks and of the following weeks that read it), in-process (no
broker, so the figure is the work itself, not queueing). Prints both times and their ratio
(target <= 1.5: cost grows with the upload, not with history).

The timed uploads alternate between the projects (1, 8, 52, 1, 8, 52, ...), so a change in the
machine's load during the run weighs on every history alike. A recompute reads each run's
test-runs from RunFacts, derived once when the run was first computed, and a worker keeps the
ones it decoded; `--cold` forgets those before every timed upload, as a worker that never
computed the service would (the RunFacts rows stay: they are derived once per run, for good).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.5, help="tests per service / 200")
    parser.add_argument("--repeat", type=int, default=5, help="timed uploads per project")
    parser.add_argument(
        "--cold", action="store_true", help="forget decoded run facts before each timed upload"
    )
    parser.add_argument(
        "--profile", metavar="DIR",
        help="also write cProfile stats of the timed uploads, one file per history, to DIR "
        "(profiling slows Python code unevenly: the times and ratios of such a run are not the figures)",
    )  # fmt: skip
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    from bench.scratch import scratch_django

    scratch_django("suitehealth_bench_recompute", args.admin_dsn)

    from ingest.services import UploadMeta, project_create, run_create
    from ingest.signals import run_parsed
    from reports.receivers import mark_touched_service_weeks
    from reports.services import project_recompute
    from tests.simulation import SimConfig, Simulator

    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)

    def upload(project, run, **override):
        meta = UploadMeta.from_fields({**run.form_fields(), **override})
        return run_create(
            project=project, meta=meta, files=[(n, io.BytesIO(c)) for n, c in run.files]
        )

    from reports import history as report_history

    projects, probes, sizes = {}, {}, {}
    for weeks in (1, 8, 52):
        config = SimConfig.bench(scale=args.scale, services=args.services, weeks=weeks, now=now)
        project = project_create(slug=f"history-{weeks}w")
        runs = list(Simulator(config).runs())
        # The timed uploads: the latest runs of ordinary size (an outage run's files carry a
        # failure message per test and are several times larger), the same size in every history.
        typical = statistics.median(_size(run) for run in runs)
        ordinary = [i for i, run in enumerate(runs) if _size(run) <= 1.5 * typical]
        timed = set(ordinary[-args.repeat :])
        probes[weeks] = [runs[i] for i in sorted(timed)]
        history = [run for i, run in enumerate(runs) if i not in timed]
        started = time.perf_counter()
        run_parsed.disconnect(dispatch_uid="reports.run_parsed")
        try:
            for run in history:
                upload(project, run)
        finally:
            run_parsed.connect(mark_touched_service_weeks, dispatch_uid="reports.run_parsed")
        project_recompute(project_id=project.pk)
        projects[weeks] = project
        sizes[weeks] = statistics.median(_size(run) for run in probes[weeks])
        print(f"{weeks:>2} week(s) of history: {len(history):,} runs loaded and computed in "
              f"{time.perf_counter() - started:.0f}s")  # fmt: skip
    samples: dict[int, list[float]] = {weeks: [] for weeks in projects}
    profiles = {weeks: cProfile.Profile() for weeks in projects} if args.profile else {}
    for i in range(args.repeat):
        for weeks, project in projects.items():
            if args.cold:
                report_history.forget_decoded()
            profile = profiles.get(weeks)
            t0 = time.perf_counter()
            if profile:
                profile.enable()
            upload(project, probes[weeks][i], build_id=f"probe-{uuid.uuid4()}")
            if profile:
                profile.disable()
            samples[weeks].append(time.perf_counter() - t0)
    for weeks, profile in profiles.items():
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        path = Path(args.profile) / f"recompute-{weeks}w.prof"
        profile.dump_stats(path)
        print(f"profile of the {weeks}-week uploads: {path}")
    timings = {}
    for weeks, values in samples.items():
        timings[weeks] = statistics.median(values)
        print(f"{weeks:>2} week(s): one new upload ({sizes[weeks] / 1024:.0f} KB) to recomputed: "
              f"median {timings[weeks]:.3f}s of {[round(s, 3) for s in values]}")  # fmt: skip
    print(f"ratio 52 weeks / 1 week:  {timings[52] / timings[1]:.2f}   (target <= 1.5)")
    # The metric windows reach back at most six weeks: past them, history should cost nothing.
    print(f"ratio 52 weeks / 8 weeks: {timings[52] / timings[8]:.2f}   (windows full in both)")


def _size(run) -> int:
    return sum(len(content) for _, content in run.files)


if __name__ == "__main__":
    main()
