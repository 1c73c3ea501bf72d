"""End to end on real services: HTTP upload -> Redis -> a real Celery worker process -> PostgreSQL.

Includes the crash case: a worker SIGKILLed in the middle of a large load, then a new worker and
the sweeper, must leave exactly one complete copy of the results.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connection

from ingest.models import Result, Run
from tests.resultfiles import junit_xml
from tests.workers import Worker, purge_broker, wait_for


def post_upload(base_url: str, key: str, files: list[tuple[str, bytes]], **fields: str):
    """A multipart POST over a real socket, as curl would send it."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in {"commit": "c0ffee", **fields}.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    url = urlparse(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    conn.request(
        "POST",
        "/api/v1/uploads",
        body=body,
        headers={
            "Authorization": f"Token {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def run_status(run_id: int) -> str:
    return Run.objects.values_list("status", flat=True).get(pk=run_id)


def results_of(run_id: int) -> int:
    return Result.objects.filter(run_id=run_id).count()


@pytest.mark.timeout(180)
def test_it_parses_uploads_in_a_real_worker(worker, live_server, project_key):
    status, body = post_upload(
        live_server.url, project_key, [("a.xml", junit_xml(50, failed={3, 4}, worker="gw1"))],
        branch="main", build_id="900", job="unit",
    )  # fmt: skip
    assert status == 202, body
    run_id = body["run"]
    wait_for(lambda: run_status(run_id) == "parsed", timeout=60, what=f"run {run_id} parsed")
    run = Run.objects.get(pk=run_id)
    assert run.counts["tests"] == 50
    assert run.counts["failed"] == 2
    assert results_of(run_id) == 50
    assert set(Result.objects.filter(run_id=run_id).values_list("timeline", flat=True)) == {"gw1"}
    # Stored in the partition of the run's week.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tableoid::regclass::text FROM ingest_result WHERE run_id = %s LIMIT 1", [run_id]
        )
        assert cur.fetchone()[0] == f"ingest_result_p{run.week:%Y%m%d}"


@pytest.mark.timeout(180)
def test_it_marks_a_run_failed_when_its_stored_file_no_longer_parses(worker, project):
    import gzip

    from django.db import transaction
    from django.utils import timezone

    from ingest.models import RunFile
    from ingest.services import run_enqueue_parse

    with transaction.atomic():
        run = Run.objects.create(
            project=project, commit="x", started_at=timezone.now(),
            idempotency_key="k1",
        )  # fmt: skip
        RunFile.objects.create(
            run=run, index=0, name="broken.xml", format="junit", size=10, digest="0" * 64,
            content=gzip.compress(b"<testsuites><testsuite><testcase name='a'>"),
        )  # fmt: skip
        run_enqueue_parse(run_id=run.pk)
    wait_for(lambda: run_status(run.pk) == "failed", timeout=60, what="run failed")
    run.refresh_from_db()
    assert run.error["file"] == "broken.xml"
    assert run.error["error"] == "malformed_xml"
    assert run.error["line"] == 1
    assert results_of(run.pk) == 0


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_load_loses_nothing_and_duplicates_nothing(
    transactional_db, served_only, live_server, project_key, tmp_path
):
    n = 120_000
    big = junit_xml(n, failed=set(range(0, n, 97)), message_size=200)
    purge_broker()
    first = Worker(log_path=tmp_path / "first.log")
    try:
        status, body = post_upload(live_server.url, project_key, [("big.xml", big)], build_id="1")
        assert status == 202, body
        run_id = body["run"]
        wait_for(lambda: run_status(run_id) == "parsing", timeout=60, what="parse started")
        # Let the load get well under way (rows are being COPYed), then kill without warning.
        time.sleep(1.0)
        assert run_status(run_id) == "parsing", "the load finished before it could be killed"
    finally:
        first.kill()
    # Nothing of the interrupted transaction is visible.
    assert results_of(run_id) == 0
    assert run_status(run_id) == "parsing"
    # A new worker with a fast sweeper picks the run up again.
    with Worker(
        log_path=tmp_path / "second.log",
        beat=True,
        SUITEHEALTH_STUCK_AFTER_SECONDS="2",
        SUITEHEALTH_SWEEP_SECONDS="2",
    ) as second:
        wait_for(
            lambda: run_status(run_id) == "parsed", timeout=180,
            what=f"run re-parsed; worker log:\n{second.log()[-3000:]}",
        )  # fmt: skip
    assert results_of(run_id) == n
    # Exactly one copy: no (test, attempt) twice.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT test_id, attempt FROM ingest_result WHERE run_id = %s "
            "GROUP BY test_id, attempt HAVING count(*) > 1) d",
            [run_id],
        )
        assert cur.fetchone()[0] == 0
    run = Run.objects.get(pk=run_id)
    assert run.counts["tests"] == n
    assert run.counts["failed"] == len(range(0, n, 97))
    assert run.parse_attempts >= 2


@pytest.mark.timeout(120)
def test_an_ingest_worker_does_not_load_the_metrics_code(
    transactional_db, served_only, project, tmp_path
):
    """A worker that only parses (the ingest queue: bench/ingest.py's, and a deployment's that
    gives large uploads their own worker) marks service-weeks stale after each parse
    (reports.staleness) and, starting, runs Django's checks, which load the URL configuration
    and with it every page's imports: none of it may import the metrics code (numpy, scipy:
    ~80 MB). Read from the memory maps of the real worker's processes after a parse."""
    import io

    from ingest.services import UploadMeta, run_create

    purge_broker()
    with Worker(log_path=tmp_path / "worker.log", queues="ingest") as worker:
        run = run_create(
            project=project, meta=UploadMeta(commit="c1"),
            files=[("a.xml", io.BytesIO(junit_xml(20, failed={2})))],
        ).run  # fmt: skip
        wait_for(
            lambda: run_status(run.pk) == "parsed", timeout=60,
            what=f"run parsed; worker log:\n{worker.log()[-3000:]}",
        )  # fmt: skip
        pids = worker.pids()
        assert len(pids) >= 2, "the main process and its pool process"
        mapped = {
            line.split()[-1]
            for pid in pids
            for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
            if line.count(" ") >= 5
        }
    purge_broker()  # the recomputes the parse scheduled
    assert any("/lxml/" in m for m in mapped), "the maps show the parser's extension modules"
    heavy = sorted(m for m in mapped if "/numpy/" in m or "/scipy/" in m)
    assert not heavy, f"an ingest worker loaded the metrics code: {heavy[:3]}"
