"""Weekly report benchmark: how long do the Markdown and the PDF of one week take for a project of
20 services with 52 weeks of history?

    .venv/bin/python bench/report.py [--services 20] [--weeks 52] [--scale 0.2] [--repeat 3]
        [--commits-per-weekday 1.0]

Builds the project on a scratch PostgreSQL database from the CI simulator (tests/simulation),
uploaded in-process and computed by the metrics pipeline (every service-week's rollups and
findings, as in production, nothing faked); small suites per service keep the build to minutes.
Then times the report of the latest complete week: the Markdown (build + render) and the PDF
(build + HTML + charts exported by kaleido in one batch + WeasyPrint), each `--repeat` times,
and prints the medians next to the targets (Markdown <= 1 s, PDF <= 10 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument(
        "--scale", type=float, default=0.2, help="tests per service / 200 (0.2: 40)"
    )
    parser.add_argument(
        "--commits-per-weekday",
        type=float,
        default=1.0,
        help="main commits a weekday (each runs every service's CI)",
    )
    parser.add_argument("--feature-branches-per-week", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="reuse the database of a previous run")
    args = parser.parse_args()

    from bench.scratch import scratch_django

    scratch_django("suitehealth_bench_report", args.admin_dsn, keep=args.keep)

    from ingest.models import Project, Run
    from ingest.services import project_create
    from ingest.weeks import week_label
    from reports.models import Finding, ServiceWeek
    from reports.pdf import browser_path
    from reports.render import weekly_report_markdown
    from reports.weekly import weekly_report_build
    from tests.dashboard.conftest import load_history
    from tests.simulation import SimConfig

    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    slug = f"bench-{args.services}x{args.weeks}"
    project = Project.objects.filter(slug=slug).first()
    if project is None or not Run.objects.filter(project=project).exists():
        project = project or project_create(slug=slug, name=f"Bench {args.services} services")
        config = SimConfig.bench(
            scale=args.scale,
            services=args.services,
            weeks=args.weeks,
            now=now,
            commits_per_weekday=args.commits_per_weekday,
            feature_branches_per_week=args.feature_branches_per_week,
        )
        started = time.perf_counter()
        # As the page tests and `manage.py demo` load history: uploads parsed in-process, then
        # every service-week computed once by the pipeline.
        count = load_history(project=project, config=config)
        print(f"built {slug}: {count:,} runs loaded and computed in "
              f"{time.perf_counter() - started:.0f}s")  # fmt: skip
    weeks = sorted(set(ServiceWeek.objects.filter(project=project, computed__gt=0)
                       .values_list("week", flat=True)))  # fmt: skip
    week = weeks[-2]  # the latest complete week
    print(f"project {slug}: {ServiceWeek.objects.filter(project=project).count():,} service-weeks "
          f"over {len(weeks)} weeks, {Finding.objects.filter(project=project).count():,} findings; "
          f"report of {week_label(week)}")  # fmt: skip

    def timed(fn) -> list[float]:
        out = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return out

    md_bytes = 0

    def markdown() -> None:
        nonlocal md_bytes
        md_bytes = len(weekly_report_markdown(weekly_report_build(project=project, week=week)))

    pdf_bytes = 0
    parts: dict[str, list[float]] = {"build": [], "charts": [], "weasyprint": []}

    def pdf() -> None:
        # What weekly_report_pdf does, step by step, to show where the time goes.
        nonlocal pdf_bytes
        from weasyprint import HTML

        from reports.pdf import chart_images, weekly_report_html

        t0 = time.perf_counter()
        report = weekly_report_build(project=project, week=week)
        t1 = time.perf_counter()
        charts = chart_images(report)
        t2 = time.perf_counter()
        html = weekly_report_html(report, charts=charts)
        pdf_bytes = len(HTML(string=html, base_url="http://127.0.0.1:8000").write_pdf())
        t3 = time.perf_counter()
        for key, value in (("build", t1 - t0), ("charts", t2 - t1), ("weasyprint", t3 - t2)):
            parts[key].append(value)

    md = timed(markdown)
    print(f"Markdown: median {statistics.median(md):.3f}s of {[round(s, 3) for s in md]} "
          f"({md_bytes:,} bytes)   target <= 1 s")  # fmt: skip
    if browser_path() is None:
        print("PDF: no Chromium found, so the charts would be left out: not timed")
        return
    pdf_times = timed(pdf)
    print(f"PDF:      median {statistics.median(pdf_times):.2f}s of "
          f"{[round(s, 2) for s in pdf_times]} ({pdf_bytes:,} bytes, 3 charts drawn by one "
          f"browser start each time)   target <= 10 s")  # fmt: skip
    print("   of which: " + ", ".join(f"{k} {statistics.median(v):.2f}s" for k, v in parts.items())
          + " (charts: kaleido starts Chromium and exports the 3 figures as SVG)")  # fmt: skip
    print(f"ratio PDF / Markdown: {statistics.median(pdf_times) / statistics.median(md):.0f}")


if __name__ == "__main__":
    main()
