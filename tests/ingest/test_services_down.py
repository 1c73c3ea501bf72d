"""The web process while Redis or PostgreSQL is down, refused or silent (a server that accepts the
connection and never answers), on real gunicorn processes.

- Redis down: uploads are still accepted (the run is stored; the sweeper queues the parse once
  the broker is back), and pages and sign-in keep working (sessions live in the database).
- PostgreSQL down: nothing can be stored, so the API answers 503 `service_unavailable` with a
  Retry-After, and pages a 503 page, within seconds rather than at the web worker's timeout.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from ingest.models import Run
from ingest.services import runs_sweep_stuck
from tests.ingest.test_worker import post_upload, results_of, run_status
from tests.reports.receivers import free_port
from tests.resultfiles import junit_xml
from tests.workers import REPO, worker_env

# What "within seconds" means here: the timeouts in dashboard/settings.py are 5 s, a publish is
# tried more than once, and gunicorn's own timeout (what a hang used to cost) is 120 s.
ANSWERED_WITHIN = 45


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


Web = Callable[..., tuple[str, Path]]


@pytest.fixture
def web(transactional_db, served_only, tmp_path) -> Iterator[Web]:
    """Starts gunicorn as docker-compose runs it, with some environment overridden; returns
    (base URL, log path). Every process is stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> tuple[str, Path]:
        port = free_port()
        log = tmp_path / f"web-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "gunicorn", "dashboard.wsgi:application",
                    "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "120",
                ],
                cwd=REPO,
                env=worker_env(DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="127.0.0.1", **env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        procs.append(proc)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}", log
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(20)


def get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=120)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read().decode()


def sign_in(base: str, username: str, password: str) -> str:
    """The sign-in form as a browser submits it; returns the session cookie."""
    status, headers, body = get(base, "/login/")
    assert status == 200, body
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=120)
    conn.request(
        "POST",
        "/login/",
        body=urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Referer": f"{base}/login/",
        },
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 302, response.status
    return re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie", "")).group(1)


@pytest.mark.timeout(180)
def test_an_upload_accepted_while_the_broker_is_down_is_parsed_once_it_is_back(
    web, project_key, worker
):
    url, log = web(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    status, body = post_upload(
        url, project_key, [("a.xml", junit_xml(20, failed={2}))], build_id="77", job="unit"
    )
    assert status == 202, body
    run_id = body["run"]
    assert run_status(run_id) == "received" and results_of(run_id) == 0
    assert f"could not queue ingest.parse_run({run_id},)" in log.read_text()
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


@pytest.mark.timeout(180)
def test_a_silent_redis_neither_hangs_an_upload_nor_breaks_sign_in_and_pages(web, project):
    from ingest.services import token_create

    key = token_create(project=project)[1]
    # Hashed as the served settings hash (the test settings use a faster hasher they lack).
    password = PBKDF2PasswordHasher().encode("pw-for-ada-1", "saltsaltsalt", iterations=1000)
    user = get_user_model().objects.create(username="ada", password=password)
    project.members.add(user)
    with silent_server() as port:
        url, log = web(REDIS_URL=f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        status, body = post_upload(url, key, [("a.xml", junit_xml(5))], build_id="1", job="unit")
        took = time.monotonic() - started
        assert status == 202, body
        assert took < ANSWERED_WITHIN, took
        assert "could not queue ingest.parse_run" in log.read_text()
        assert run_status(body["run"]) == "received"

        session = sign_in(url, "ada", "pw-for-ada-1")
        status, _, page = get(url, f"/p/{project.slug}/", {"Cookie": f"sessionid={session}"})
        assert status == 200, page[:2000]
        assert project.name in page


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database", ["refused", "silent"])
def test_without_its_database_the_server_answers_503_within_seconds(web, project, database):
    from ingest.services import token_create

    key = token_create(project=project)[1]
    user = get_user_model().objects.create_user("ada", "ada@example.com", "pw-for-ada-1")
    project.members.add(user)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value

    with silent_server() as silent:
        port = silent if database == "silent" else free_port()
        url, log = web(DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/suitehealth")

        started = time.monotonic()
        status, headers, body = get(
            url, f"/api/v1/projects/{project.slug}/status", {"Authorization": f"Token {key}"}
        )
        assert time.monotonic() - started < ANSWERED_WITHIN
        assert status == 503, body
        assert headers["Retry-After"] == "30"
        assert '"error": "service_unavailable"' in body and "nothing was stored" in body

        status, body = post_upload(url, key, [("a.xml", junit_xml(3))], build_id="2", job="u")
        assert (status, body["error"]) == (503, "service_unavailable")

        started = time.monotonic()
        status, headers, page = get(url, f"/p/{project.slug}/", {"Cookie": f"sessionid={session}"})
        assert time.monotonic() - started < ANSWERED_WITHIN
        assert status == 503 and headers["Retry-After"] == "30"
        assert "The database cannot be reached" in page
    assert Run.objects.count() == 0
