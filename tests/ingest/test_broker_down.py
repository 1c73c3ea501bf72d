"""An upload accepted while the broker cannot be reached: the client gets its 202 (the run is
stored), and the sweeper queues the parse once the broker is back. A real web server process
whose REDIS_URL points at a closed port, then a real worker."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ingest.models import Run
from ingest.services import runs_sweep_stuck
from tests.ingest.test_worker import post_upload, results_of, run_status
from tests.reports.receivers import free_port
from tests.resultfiles import junit_xml
from tests.workers import REPO, worker_env


@pytest.fixture
def server_without_broker(transactional_db, served_only, tmp_path) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(base URL, log path) of `manage.py runserver` with a broker URL nobody answers."""
    port, dead = free_port(), free_port()
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=REPO,
            env=worker_env(REDIS_URL=f"redis://127.0.0.1:{dead}/0"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", str(log)
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.timeout(180)
def test_an_upload_accepted_while_the_broker_is_down_is_parsed_once_it_is_back(  # type: ignore[no-untyped-def]
    server_without_broker, project_key, worker
):
    url, log = server_without_broker
    status, body = post_upload(
        url, project_key, [("a.xml", junit_xml(20, failed={2}))], build_id="77", job="unit"
    )
    assert status == 202, body
    run_id = body["run"]
    assert run_status(run_id) == "received" and results_of(run_id) == 0
    with open(log) as f:
        assert f"could not queue ingest.parse_run({run_id},)" in f.read()
    # The same upload again is the same run, still accepted.
    again, body = post_upload(
        url, project_key, [("a.xml", junit_xml(20, failed={2}))], build_id="77", job="unit"
    )
    assert (again, body["run"]) == (200, run_id)
    assert Run.objects.count() == 1

    # The broker is back (this process's): the sweeper queues the run, the worker parses it.
    assert runs_sweep_stuck(older_than_seconds=0) == [run_id]
    deadline = time.monotonic() + 60
    while run_status(run_id) != "parsed":
        assert time.monotonic() < deadline, worker.log()[-2000:]
        time.sleep(0.2)
    assert results_of(run_id) == 20
