"""Ingest benchmark: one large JUnit upload through a served instance, against raw COPY.

    .venv/bin/python bench/ingest.py              # 100,000 testcases
    .venv/bin/python bench/ingest.py --million    # 1,000,000 testcases

Starts a served instance on a scratch PostgreSQL database (gunicorn + a Celery worker on Redis),
warms the worker with one small upload (its first task imports the ingest code), uploads a
generated pytest-style JUnit file over HTTP twice (first every test is new, then the same tests
again under another build, as CI uploads them day after day), and prints:
  - end-to-end results/second of each, from the start of the POST until GET /api/v1/runs/ID
    says parsed (polled every 50 ms);
  - the same rows loaded by a bare binary COPY into an empty copy of the results table (same run,
    same machine: the limit);
  - their ratios (target >= 0.5);
  - the peak RSS of the process that ran the parse tasks (target <= 200 MB at 1,000,000).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def generate(path: Path, n: int, package: str = "tests") -> int:
    """A pytest-style JUnit file: 2% failures with a short traceback, 1% skipped, 4 workers."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>')
        out.write(f'<testsuite name="pytest" tests="{n}" timestamp="2026-11-02T10:00:00">\n')
        for i in range(n):
            module = f"{package}.pkg{i // 1000}.test_mod{(i // 50) % 20}"
            worker = f"gw{i % 4}"
            out.write(
                f'<testcase classname="{module}.TestThing" name="test_case_{i}[param-{i % 7}]" '
                f'file="{module.replace(".", "/")}.py" line="{i % 400}" time="0.{i % 997:03d}">'
                f'<properties><property name="worker" value="{worker}"/></properties>'
            )
            if i % 50 == 7:
                out.write(
                    '<failure message="AssertionError: assert 41 == 42">def test():\n'
                    ">       assert compute() == 42\nE       assert 41 == 42\n</failure>"
                )
            elif i % 100 == 3:
                out.write('<skipped type="pytest.skip" message="needs network"/>')
            out.write("</testcase>\n")
        out.write("</testsuite></testsuites>\n")
    return path.stat().st_size


def free_port() -> int:
    """A port nothing listens on (bound once, then released). The tests have the same helper
    (tests/reports/receivers.py); a benchmark does not import the tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/schema/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the web server did not come up")


def upload(port: int, key: str, path: Path) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="commit"\r\n\r\nbench\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="build_id"\r\n\r\n{uuid.uuid4()}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/xml\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + path.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", "/api/v1/uploads")
    conn.putheader("Authorization", f"Token {key}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    conn.send(head)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def upload_until_parsed(port: int, key: str, path: Path) -> tuple[float, float, dict]:
    """(seconds to the 202, seconds to `parsed`, the run's final state)."""
    started = time.perf_counter()
    status, body = upload(port, key, path)
    accepted = time.perf_counter() - started
    if status != 202:
        raise SystemExit(f"upload refused: {status} {body}")
    while True:
        state = run_status(port, key, body["run"])
        if state["status"] in ("parsed", "failed"):
            break
        time.sleep(0.05)
    e2e = time.perf_counter() - started
    if state["status"] != "parsed":
        raise SystemExit(f"run failed: {state['error']}")
    return accepted, e2e, state


def run_status(port: int, key: str, run_id: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/api/v1/runs/{run_id}", headers={"Authorization": f"Token {key}"})
    return json.loads(conn.getresponse().read())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raw_copy_seconds(dsn: str, run_id: int) -> tuple[float, int]:
    """Read the run's rows back, then time a bare binary COPY of them into an empty copy of the
    results table (same columns, same indexes)."""
    columns = (
        "run_id, test_id, run_week, outcome, attempt, duration_ms, timeline, position, "
        "started_at, message, output"
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT {columns} FROM ingest_result WHERE run_id = %s ORDER BY position", [run_id]
        ).fetchall()
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (LIKE ingest_result INCLUDING DEFAULTS)")
        conn.execute("CREATE INDEX ON bench_copy (test_id, run_week, run_id)")
        conn.execute("CREATE INDEX ON bench_copy (run_id, timeline, position)")
        conn.execute("ALTER TABLE bench_copy ADD PRIMARY KEY (id, run_week)")
        conn.commit()
        types = ["int8", "int8", "date", "int2", "int2", "int4", "text", "int4", "timestamptz",
                 "text", "text"]  # fmt: skip
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY bench_copy ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return elapsed, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="1,000,000 testcases")
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument(
        "--db", default="suitehealth_bench", help="scratch database (dropped first)"
    )
    args = parser.parse_args()
    n = 1_000_000 if args.million else args.tests

    db = args.db
    with psycopg.connect(args.admin_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {db}")
    dsn = args.admin_dsn.rsplit("/", 1)[0] + f"/{db}"
    env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": args.redis_url, "DEBUG": "false",
           "SECRET_KEY": "bench-" + uuid.uuid4().hex, "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "dashboard.settings"}  # fmt: skip
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    created = subprocess.run(
        [PY, "manage.py", "create_project", "bench"], cwd=REPO, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    key = created.stdout.strip().splitlines()[-1]
    subprocess.run([PY, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()",
                    args.redis_url], check=True)  # fmt: skip

    tmp = Path(tempfile.mkdtemp(prefix="suitehealth-bench-"))
    path = tmp / "junit.xml"
    warmup = tmp / "warmup.xml"
    generate(warmup, 100, package="warmup")
    t0 = time.perf_counter()
    size = generate(path, n)
    print(f"generated {n:,} testcases, {size / 2**20:.1f} MB in {time.perf_counter() - t0:.1f}s")

    port = free_port()
    web = subprocess.Popen(
        [PY, "-m", "gunicorn", "dashboard.wsgi:application", "-b", f"127.0.0.1:{port}",
         "-w", "1", "--timeout", "600"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    # -P solo: the worker process runs the task itself, so its peak RSS is the parse's. Only the
    # ingest queue: the recomputes each parsed run schedules (metrics queue, 10 s later) would
    # otherwise run in this worker between two timed uploads, and they are not ingest.
    worker = subprocess.Popen(
        [PY, "-m", "celery", "-A", "dashboard", "worker", "-P", "solo", "-Q",
         "ingest", "--without-gossip", "--without-mingle",
         "--loglevel", "WARNING"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(port)
        time.sleep(2)  # let the worker connect to the broker
        rss_idle = peak_rss_mb(worker.pid)
        upload_until_parsed(port, key, warmup)
        rss_before = peak_rss_mb(worker.pid)
        accepted, e2e, state = upload_until_parsed(port, key, path)
        run_id = state["id"]
        accepted_known, e2e_known, _ = upload_until_parsed(port, key, path)
        rss = peak_rss_mb(worker.pid)
    finally:
        for proc in (web, worker):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    rows = state["counts"]["results"]
    copy_s, copied = raw_copy_seconds(dsn, run_id)
    assert copied == rows == n, (copied, rows, n)
    ours = rows / e2e
    limit = rows / copy_s
    known = rows / e2e_known
    print(f"new tests:   upload accepted (202) after {accepted:8.2f} s")
    print(f"new tests:   end to end, POST -> parsed  {e2e:8.2f} s   {ours:10,.0f} results/s")
    print(f"known tests: upload accepted (202) after {accepted_known:8.2f} s")
    print(f"known tests: end to end, POST -> parsed  {e2e_known:8.2f} s   {known:10,.0f} results/s")
    print(f"raw binary COPY of the same rows         {copy_s:8.2f} s   {limit:10,.0f} results/s")
    print(f"ratio ours / raw COPY, new tests         {ours / limit:8.2f}     (target >= 0.50)")
    print(f"ratio ours / raw COPY, known tests       {known / limit:8.2f}     (target >= 0.50)")
    print(
        f"parse task peak RSS                      {rss:8.0f} MB   (worker idle: {rss_idle:.0f} MB,"
        f" after a 100-test warm-up: {rss_before:.0f} MB; target <= 200 MB at 1,000,000)"
    )
    path.unlink()


if __name__ == "__main__":
    main()
