"""Pages benchmark: are the dashboard pages as fast on 5 million results as on 100,000?

    .venv/bin/python bench/pages.py [--workers 2] [--requests 50] [--concurrency 4]
                                    [--keep | --reuse] [--only small|large] [--scale 1.0]

Builds two scratch PostgreSQL databases (dropped and created, then migrated) holding one project
of 20 services x 52 ISO weeks of CI history from the simulator in tests/simulation, so flaky
tests, order-dependent pairs, cascades, regressions and slowdowns are all there:

* `suitehealth_bench_pages_large`: the simulator's bench profile, 200 tests a service, about
  26,000 runs and at least 5,000,000 results;
* `suitehealth_bench_pages_small`: the same services and weeks with 12 tests a service and fewer
  commits, about 100,000 results.

Loading path: every simulated upload goes through the product's own code in-process, with no
broker (tasks run right after commit): `ingest.services.run_create` (the upload check and the
stored raw file) then `run_parse` (parse and binary COPY into the partitioned results table), split
over `--workers` processes by service. The rollups (ServiceWeek, TestWeek) and findings are then
computed by `reports.services.service_week_recompute` for every service-week, oldest week first
within each service, split over the same processes by service (a service-week reads only its own
service). `VACUUM ANALYZE` runs after loading. Progress is printed as it goes; building the large
database takes a while (tens of minutes on a 2-core machine), so `--keep` leaves both databases in
place and `--reuse` measures databases a previous `--keep` run built.

Measuring: each database is served as in production (gunicorn -w 3, DEBUG=false, REDIS_URL set,
see the README's "Served mode"; no debug tooling), a member logs in through the login page, then
every page type is requested `--requests` times by `--concurrency` threads, spread over services,
weeks, tests, runs and list pages so it is not one URL over and over. Both databases are served at
once and measured page type by page type in turn, so both figures of a page are taken under the
same machine load. The figure is **server time**: the `app` entry of the `Server-Timing` header
that dashboard.middleware.ServerTimingMiddleware adds (from the first middleware in to the
response out, so queueing in gunicorn and the network are not in it). Prints p50/p95 per page for
both databases, the large/small ratio of the p95, and PASS/FAIL against the targets: p95 <= 150 ms
on every page, ratio <= 1.5. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SLUG = "bench"
USER, PASSWORD = "bench", "bench-pages-password"
NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
P95_TARGET_MS = 150.0
RATIO_TARGET = 1.5
DATABASES = {"small": "suitehealth_bench_pages_small", "large": "suitehealth_bench_pages_large"}


def sim_config(size: str, scale: float):
    from tests.simulation import SimConfig

    if size == "large":
        return SimConfig.bench(scale=scale, services=20, weeks=52, now=NOW)
    # Same services and weeks, 12 tests a service (the simulator's least) and fewer commits. The
    # behaviours are planted at the 6-week rate: 52 weeks' worth would not fit in 12 tests.
    base = SimConfig.bench(
        scale=0.06, services=20, weeks=6, now=NOW, commits_per_weekday=0.7,
        feature_branches_per_week=0.4,
    )  # fmt: skip
    return replace(base, weeks=52, outages=17)


# --- Building (each phase runs in its own process: Django binds one database per process) -------


def _django(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ.pop("REDIS_URL", None)  # tasks run in-process, right after each commit
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    import django

    django.setup()


def phase_prepare(size: str, scale: float) -> None:
    """The project, a member to log in as, and every week's partition (created up front so the
    loading processes never race to create one)."""
    from django.contrib.auth import get_user_model

    from ingest.partitions import ensure_partition
    from ingest.services import project_create

    config = sim_config(size, scale)
    project = project_create(slug=SLUG, name="Bench")
    user = get_user_model().objects.create_user(USER, "bench@example.com", PASSWORD)
    project.members.add(user)
    week = config.start.date()
    while week <= NOW.date() + dt.timedelta(days=7):
        ensure_partition(week)
        week += dt.timedelta(days=7)


def phase_load(size: str, scale: float, part: int, parts: int) -> None:
    """Upload this process's share of the simulated runs (services with index % parts == part)."""
    import io

    from ingest.models import Project
    from ingest.services import UploadMeta, run_create
    from ingest.signals import run_parsed
    from tests.simulation import Simulator

    config = sim_config(size, scale)
    project = Project.objects.get(slug=SLUG)
    mine = {s.name for i, s in enumerate(config.services) if i % parts == part}
    # One recompute per service-week at the end instead of one per uploaded run (as `demo` does).
    run_parsed.disconnect(dispatch_uid="reports.run_parsed")
    started = time.monotonic()
    runs = results = 0
    for run in Simulator(config).runs():
        if run.service not in mine:
            continue
        meta = UploadMeta.from_fields(run.form_fields())
        run_create(project=project, meta=meta, files=[(n, io.BytesIO(c)) for n, c in run.files])
        runs += 1
        results += run.counts["results"]
        if runs % 500 == 0:
            elapsed = time.monotonic() - started
            print(f"  [{size} load {part + 1}/{parts}] {runs:,} runs, {results:,} results, "
                  f"{elapsed:.0f}s ({results / elapsed:,.0f} results/s)", flush=True)  # fmt: skip
    print(f"  [{size} load {part + 1}/{parts}] done: {runs:,} runs, {results:,} results in "
          f"{time.monotonic() - started:.0f}s", flush=True)  # fmt: skip


def phase_recompute(size: str, part: int, parts: int, last_weeks: int) -> None:
    """Compute this process's services, every week that has runs (or the last `last_weeks`
    of them), oldest first."""
    from ingest.models import Project, Run, Service
    from reports.models import ServiceWeek
    from reports.services import service_week_recompute

    project = Project.objects.get(slug=SLUG)
    services = list(Service.objects.filter(project=project).order_by("name"))
    mine = [s for i, s in enumerate(services) if i % parts == part]
    started = time.monotonic()
    done = 0
    for service in mine:
        weeks = sorted(
            set(
                Run.objects.filter(project=project, service=service.name).values_list(
                    "week", flat=True
                )
            )
        )
        if last_weeks:
            weeks = weeks[-last_weeks:]
        for week in weeks:
            ServiceWeek.objects.get_or_create(
                service=service, week=week, defaults={"project": project}
            )
            service_week_recompute(service_id=service.pk, week=week, force=True)
            done += 1
        print(f"  [{size} recompute {part + 1}/{parts}] {service.name}: {len(weeks)} weeks "
              f"({done} service-weeks, {time.monotonic() - started:.0f}s)", flush=True)  # fmt: skip


def phase_analyze(size: str) -> None:
    from django.db import connection

    from ingest.models import Result, Run

    # VACUUM too: it sets the visibility map, as autovacuum soon does after inserts in
    # production (autovacuum_vacuum_insert_threshold), so index-only scans are what they'd be.
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"  [{size}] analyzed: {Run.objects.count():,} runs, {Result.objects.count():,} results",
          flush=True)  # fmt: skip


def _phase(args: argparse.Namespace, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--phase", *extra, "--db-url", args.db_url,
           "--size", args.size, "--scale", str(args.scale),
           "--recompute-weeks", str(args.recompute_weeks)]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO)


def _wait(procs: list[subprocess.Popen]) -> None:
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a build process failed: exit codes {codes}")


def build(size: str, args: argparse.Namespace, admin_dsn: str) -> None:
    import psycopg

    db = DATABASES[size]
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {db}")
    ns = argparse.Namespace(
        db_url=_db_url(admin_dsn, db), size=size, scale=args.scale,
        recompute_weeks=args.recompute_weeks if size == "large" else 0,
    )  # fmt: skip
    started = time.monotonic()
    _migrate(ns.db_url)
    _wait([_phase(ns, "prepare")])
    print(f"{size}: loading with {args.workers} process(es)…", flush=True)
    _wait([_phase(ns, "load", "--part", str(k), "--parts", str(args.workers))
           for k in range(args.workers)])  # fmt: skip
    loaded = time.monotonic()
    print(f"{size}: loaded in {loaded - started:.0f}s; computing rollups and findings…", flush=True)
    _wait([_phase(ns, "recompute", "--part", str(k), "--parts", str(args.workers))
           for k in range(args.workers)])  # fmt: skip
    print(f"{size}: computed in {time.monotonic() - loaded:.0f}s", flush=True)
    _wait([_phase(ns, "analyze")])
    print(f"{size}: built in {time.monotonic() - started:.0f}s", flush=True)


def _migrate(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)


def _db_url(admin_dsn: str, db: str) -> str:
    return admin_dsn.rsplit("/", 1)[0] + f"/{db}"


def _exists(admin_dsn: str, db: str) -> bool:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        return (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone()
            is not None
        )


# --- Measuring ----------------------------------------------------------------------------------


def page_urls(db_url: str, n: int, seed: int = 7) -> dict[str, list[str]]:
    """`n` URLs per page type, spread over services, weeks, tests, runs and list pages."""
    import psycopg

    rng = random.Random(seed)
    with psycopg.connect(db_url) as conn:
        project_id = conn.execute(
            "SELECT id FROM ingest_project WHERE slug = %s", [SLUG]
        ).fetchone()[0]
        services = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM ingest_service WHERE project_id = %s ORDER BY name", [project_id]
            )
        ]
        weeks = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT week FROM reports_serviceweek WHERE project_id = %s ORDER BY week",
                [project_id],
            )
        ]
        tests = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM ingest_test WHERE project_id = %s ORDER BY random() LIMIT %s",
                [project_id, n],
            )
        ]
        runs = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM ingest_run WHERE project_id = %s ORDER BY random() LIMIT %s",
                [project_id, n],
            )
        ]
        unclean = [(s, w) for s, w in conn.execute(
            "SELECT s.name, sw.week FROM reports_serviceweek sw JOIN ingest_service s "
            "ON s.id = sw.service_id WHERE sw.project_id = %s ORDER BY random() LIMIT %s",
            [project_id, n])]  # fmt: skip
    from ingest.weeks import week_label

    def q(path: str, **params: object) -> str:
        return path + ("?" + urllib.parse.urlencode(params) if params else "")

    base = f"/p/{SLUG}"
    label = [week_label(w) for w in weeks]
    pick = lambda seq, i: seq[i % len(seq)]  # noqa: E731
    urls: dict[str, list[str]] = {
        "overview": [q("/", **({"metric": "pass_rate"} if i % 2 else {})) for i in range(n)],
        "project": [q(f"{base}/", week=rng.choice(label)) if i % 4 else f"{base}/"
                    for i in range(n)],
        "service": [q(f"{base}/s/{urllib.parse.quote(pick(services, i))}/",
                      **({"week": rng.choice(label)} if i % 2 else {})) for i in range(n)],
        "test": [f"{base}/t/{pick(tests, i)}/" + ("?outcome=all" if i % 3 == 0 else "")
                 for i in range(n)],
        "runs": [q(f"{base}/runs/", **[{}, {"page": rng.randint(2, 400)},
                                       {"service": rng.choice(services)},
                                       {"week": rng.choice(label)}][i % 4]) for i in range(n)],
        "runs unclean": [q(f"{base}/runs/", service=s, week=week_label(w), unclean=1)
                         for s, w in (pick(unclean, i) for i in range(n))],
        "run": [f"{base}/runs/{pick(runs, i)}/" + ("?final=1&outcome=failed" if i % 3 == 0 else "")
                for i in range(n)],
        "run file": [f"{base}/runs/{pick(runs, i)}/files/0.gz" for i in range(n)],
        "settings": [f"{base}/settings/" for _ in range(n)],
    }  # fmt: skip
    return urls


class Client:
    """A logged-in browser: the session cookie, shared by the threads (pages only read)."""

    def __init__(self, base: str) -> None:
        self.base = base
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(base + "/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": USER, "password": PASSWORD,
                                       "csrfmiddlewaretoken": token}).encode()  # fmt: skip
        req = urllib.request.Request(
            base + "/login/", data=body, headers={"Referer": base + "/login/"}
        )
        opener.open(req).read()
        cookies = {c.name: c.value for c in jar}
        if "sessionid" not in cookies:
            raise SystemExit("login failed: no session cookie")
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())

    def server_ms(self, path: str) -> float:
        req = urllib.request.Request(self.base + path, headers={"Cookie": self.cookie})
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()
            if resp.status != 200 or resp.url.rstrip("/").endswith("/login"):
                raise RuntimeError(f"{path}: {resp.status} {resp.url}")
            timing = resp.headers.get("Server-Timing", "")
        match = re.search(r"\bapp;dur=([0-9.]+)", timing)
        if not match:
            raise RuntimeError(f"{path}: no Server-Timing app entry ({timing!r})")
        return float(match.group(1))


def serve(db_url: str, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ, "DATABASE_URL": db_url, "REDIS_URL": "redis://127.0.0.1:6379/2",
        "SECRET_KEY": "bench-pages-" + "x" * 40, "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "dashboard.wsgi:application",
           "-b", f"127.0.0.1:{port}", "-w", str(workers), "--timeout", "120",
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5).read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not answer within 60s")


def measure(
    sizes: list[str], args: argparse.Namespace, admin_dsn: str
) -> dict[str, dict[str, list[float]]]:
    """Serve every database at once (a gunicorn each), then page type by page type, request it
    on each database in turn: the two sets of figures are taken seconds apart, under the same
    load from whatever else the machine runs, so their ratio compares like with like."""
    servers, clients, urls = {}, {}, {}
    try:
        for k, size in enumerate(sizes):
            db_url = _db_url(admin_dsn, DATABASES[size])
            urls[size] = page_urls(db_url, args.requests)
            servers[size] = serve(db_url, args.port + k, args.server_workers)
            clients[size] = Client(f"http://127.0.0.1:{args.port + k}")
            # Warm every gunicorn worker (imports, connections, templates) before timing.
            with ThreadPoolExecutor(args.concurrency) as pool:
                warm = [u[0] for u in urls[size].values()] * args.server_workers * 2
                list(pool.map(clients[size].server_ms, warm))
        timings: dict[str, dict[str, list[float]]] = {size: {} for size in sizes}
        for page in urls[sizes[0]]:
            for size in sizes:
                with ThreadPoolExecutor(args.concurrency) as pool:
                    samples = list(pool.map(clients[size].server_ms, urls[size][page]))
                timings[size][page] = samples
                print(f"  [{size}] {page:<13} p50 {pct(samples, 50):7.1f} ms   "
                      f"p95 {pct(samples, 95):7.1f} ms", flush=True)  # fmt: skip
        return timings
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait(30)


def pct(samples: list[float], p: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def report(results: dict[str, dict[str, list[float]]], counts: dict[str, int]) -> bool:
    sizes = [s for s in ("small", "large") if s in results]
    print()
    heading = "".join(f"  {s} ({counts[s]:,} results) p50 / p95 ms" for s in sizes)
    print(f"{'page':<13}{heading}" + ("   ratio p95 large/small" if len(sizes) == 2 else ""))
    ok = True
    for page in results[sizes[0]]:
        cells = []
        for s in sizes:
            p50, p95 = pct(results[s][page], 50), pct(results[s][page], 95)
            good = p95 <= P95_TARGET_MS
            ok &= good
            cells.append(f"{p50:>12.1f} / {p95:6.1f} {'PASS' if good else 'FAIL'}")
        line = f"{page:<13}" + "".join(f"{c:>{len(heading) // len(sizes)}}" for c in cells)
        if len(sizes) == 2:
            ratio = pct(results["large"][page], 95) / pct(results["small"][page], 95)
            good = ratio <= RATIO_TARGET
            ok &= good
            line += f"   {ratio:5.2f} {'PASS' if good else 'FAIL'}"
        print(line)
    print(f"\ntargets: p95 <= {P95_TARGET_MS:.0f} ms on every page"
          + (f", ratio <= {RATIO_TARGET}" if len(sizes) == 2 else "")
          + f": {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return ok


def result_count(admin_dsn: str, size: str) -> int:
    import psycopg

    with psycopg.connect(_db_url(admin_dsn, DATABASES[size])) as conn:
        # The planner's figure after ANALYZE: exact enough, and free on 5 million rows.
        row = conn.execute(
            "SELECT sum(c.reltuples)::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'ingest_result'::regclass"
        ).fetchone()
        return int(row[0] or 0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="processes building a database")
    parser.add_argument("--requests", type=int, default=50, help="requests per page type")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--server-workers", type=int, default=3, help="gunicorn workers (the README's -w 3)"
    )
    parser.add_argument("--port", type=int, default=8742)
    parser.add_argument("--scale", type=float, default=1.0, help="large: tests per service / 200")
    parser.add_argument("--only", choices=["small", "large"])
    parser.add_argument(
        "--recompute-weeks", type=int, default=0,
        help="large: compute only each service's last N weeks (0: all; a quicker build whose\n"
        "pages show N computed weeks instead of 52)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="leave the databases in place")
    parser.add_argument(
        "--reuse", action="store_true", help="measure databases built before (builds missing ones)"
    )
    parser.add_argument(
        "--build-only", action="store_true", help="build (implies --keep), do not measure"
    )
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    # Internal: one build phase in a child process.
    parser.add_argument(
        "--phase", choices=["prepare", "load", "recompute", "analyze"], help=argparse.SUPPRESS
    )
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=["small", "large"], help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--parts", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        _django(args.db_url)
        if args.phase == "prepare":
            phase_prepare(args.size, args.scale)
        elif args.phase == "load":
            phase_load(args.size, args.scale, args.part, args.parts)
        elif args.phase == "recompute":
            phase_recompute(args.size, args.part, args.parts, args.recompute_weeks)
        else:
            phase_analyze(args.size)
        return

    sizes = [args.only] if args.only else ["small", "large"]
    for size in sizes:
        if args.reuse and _exists(args.admin_dsn, DATABASES[size]):
            print(f"{size}: reusing {DATABASES[size]} (migrating it to this checkout)", flush=True)
            _migrate(_db_url(args.admin_dsn, DATABASES[size]))
        else:
            build(size, args, args.admin_dsn)
    if args.build_only:
        return
    print(f"serving {', '.join(DATABASES[s] for s in sizes)}; every page {args.requests} times "
          f"on each, {args.concurrency} at a time…", flush=True)  # fmt: skip
    results = measure(sizes, args, args.admin_dsn)
    counts = {size: result_count(args.admin_dsn, size) for size in sizes}
    ok = report(results, counts)
    if not (args.keep or args.reuse):
        import psycopg

        with psycopg.connect(args.admin_dsn, autocommit=True) as admin:
            for size in sizes:
                admin.execute(f"DROP DATABASE IF EXISTS {DATABASES[size]} WITH (FORCE)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
