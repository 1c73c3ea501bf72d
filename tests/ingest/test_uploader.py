"""The uploader as CI runs it: a subprocess talking HTTP to a live server (pytest-django's threaded
live_server), sometimes through a misbehaving proxy. Nothing of our code is mocked."""

from __future__ import annotations

import ast
import glob
import gzip
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ingest.models import Run, RunFile
from ingest.services import run_parse
from tests.reports.receivers import free_port
from tests.resultfiles import gz, junit_xml

REPO = Path(__file__).resolve().parents[2]
UPLOADER = REPO / "ingest" / "uploader.py"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


# --- Helpers ------------------------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: no CI variables, no proxies, and near-instant retries."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SUITEHEALTH_RETRY_BASE": "0.01",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    env.update(extra)
    return env


def upload(
    *args: str, cwd: Path, env: dict[str, str] | None = None, python: str = sys.executable
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, str(UPLOADER), *args],
        cwd=cwd,
        env=env if env is not None else base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_id_in(output: str) -> int:
    match = re.search(r"/api/v1/runs/(\d+)", output)
    assert match, output
    return int(match.group(1))


def api_get(base: str, path: str, key: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Token {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def dry_run_fields(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_bytes(junit_xml(3, failed={1}))
    return path


# --- A stdlib proxy that fails on purpose -------------------------------------------------------


class FlakyProxy:
    """An HTTP proxy in front of the live server that plays a script, one action per POST:
    "503" / "429" / "400" answer that status without forwarding ("400-page": as an HTML page,
    not JSON); "forward" relays the request
    and the answer; "forward-then-502" relays the request but answers 502, as a load balancer
    that loses the response does. POSTs past the script are forwarded. GETs are answered with
    status `get` ("403": a gateway that lets only uploads through)."""

    def __init__(self, upstream: str, script: list[str], *, get: str = "404") -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.script = list(script)
        self.posts = 0
        self.upstream_statuses: list[int] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy.script[proxy.posts] if proxy.posts < len(proxy.script) else "forward"
                proxy.posts += 1
                if action in ("503", "429", "400"):
                    answer = json.dumps({"error": "test", "detail": f"scripted {action}"}).encode()
                    return self.answer(int(action), answer, "application/json")
                if action == "400-page":  # what Django answers a Host it does not serve
                    return self.answer(400, b"<h1>Bad Request (400)</h1>", "text/html")
                status, content_type, answer = proxy.forward(self, body)
                if action == "forward-then-502":
                    return self.answer(502, b"bad gateway", "text/plain")
                return self.answer(status, answer, content_type)

            def do_GET(self) -> None:  # noqa: N802
                answer = json.dumps({"error": "test", "detail": f"scripted {get}"}).encode()
                return self.answer(int(get), answer, "application/json")

            def answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(
        self, handler: http.server.BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {
                name: handler.headers[name]
                for name in ("Authorization", "Content-Type", "Content-Length")
                if handler.headers.get(name)
            }
            connection.request("POST", handler.path, body=body, headers=headers)
            response = connection.getresponse()
            self.upstream_statuses.append(response.status)
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- 1. A real pytest session, uploaded from "GitHub Actions" -----------------------------------

EXAMPLE_SUITE = """
import pytest


def test_adds():
    assert 1 + 1 == 2


def test_joins():
    assert "-".join("ab") == "a-b"


def test_sorts():
    assert sorted([3, 1, 2]) == [1, 2, 3]


def test_divides():
    assert 7 // 2 == 4


@pytest.mark.skip(reason="needs a GPU")
def test_renders():
    pass
"""

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "CI": "true",
    "GITHUB_SHA": SHA,
    "GITHUB_REF_NAME": "main",
    "GITHUB_HEAD_REF": "",
    "GITHUB_RUN_ID": "9876543210",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "unit-tests",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/mediaserver",
}


def test_it_uploads_a_real_pytest_report_with_github_actions_metadata(
    live_server, project_key, tmp_path
):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_example.py").write_text(EXAMPLE_SUITE)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:django",
         "--junitxml=out.xml", "test_example.py"],
        cwd=suite, env=base_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tests.returncode == 1, tests.stdout  # one test fails, as in real life
    assert "3 passed" in tests.stdout and "1 failed" in tests.stdout and "1 skipped" in tests.stdout

    result = upload(
        "--url", live_server.url, "--project", "mediaserver", "out.xml",
        cwd=suite, env=base_env(SUITEHEALTH_TOKEN=project_key, **GITHUB),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    run_id = run_id_in(result.stdout)
    assert f"{live_server.url}/api/v1/runs/{run_id}" in result.stdout
    assert "status: received" in result.stdout
    run = Run.objects.get(pk=run_id)
    assert (run.commit, run.branch, run.build_id, run.job) == (
        SHA, "main", "9876543210-1", "unit-tests"
    )  # fmt: skip
    assert run.build_url == "https://github.com/acme/mediaserver/actions/runs/9876543210"
    stored = RunFile.objects.get(run=run)
    assert stored.name == "out.xml"
    assert stored.format == "junit"
    assert gzip.decompress(bytes(stored.content)) == (suite / "out.xml").read_bytes()

    run_parse(run_id=run_id)
    detail = api_get(live_server.url, f"/api/v1/runs/{run_id}", project_key)
    assert detail["status"] == "parsed"
    counts = detail["counts"]
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (3, 1, 1)
    assert counts["tests"] == 5


def test_it_sends_every_matched_file_in_one_run_and_gzip_changes_nothing(
    live_server, project_key, tmp_path
):
    (tmp_path / "reports" / "api").mkdir(parents=True)
    (tmp_path / "reports" / "web").mkdir(parents=True)
    (tmp_path / "reports" / "api" / "junit.xml").write_bytes(junit_xml(2, prefix="api.T"))
    (tmp_path / "reports" / "web" / "junit.xml.gz").write_bytes(gz(junit_xml(3, prefix="web.T")))
    args = ["--url", live_server.url, "--token", project_key, "--commit", SHA,
            "--build-id", "77", "--job", "unit"]  # fmt: skip

    first = upload(*args, "reports/**/*.xml*", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run = Run.objects.get()
    assert sorted(f.format for f in RunFile.objects.filter(run=run)) == ["junit", "junit"]

    # The same results, the first file now gzipped by hand and the second sent plain: the
    # server compares decompressed content, so this is the same upload.
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "api.xml.gz").write_bytes(gz(junit_xml(2, prefix="api.T")))
    (tmp_path / "again" / "web.xml").write_bytes(junit_xml(3, prefix="web.T"))
    again = upload(*args, "again/*", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already uploaded" in again.stdout
    assert run_id_in(again.stdout) == run.pk
    assert Run.objects.count() == 1
    assert "not applied" not in again.stderr
    # Sent again from another environment: still the stored run, and a warning says so.
    other = upload(*args, "--environment", "windows", "again/*", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert run_id_in(other.stdout) == run.pk
    assert "warning: environment 'windows' was not applied" in other.stderr


# --- 2. A flaky server --------------------------------------------------------------------------


def test_it_retries_5xx_and_uploads_once(live_server, project_key, report):
    with FlakyProxy(live_server.url, ["503", "503", "forward"]) as proxy:
        result = upload(
            "--url", proxy.url, "--token", project_key, "--commit", SHA, "--build-id", "1",
            str(report), cwd=report.parent,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert proxy.posts == 3
    assert result.stderr.count("retrying") == 2
    assert "HTTP 503" in result.stderr
    assert proxy.upstream_statuses == [202]
    assert Run.objects.count() == 1
    assert run_id_in(result.stdout) == Run.objects.get().pk


def test_a_retry_after_a_lost_answer_finds_the_same_run(live_server, project_key, report):
    with FlakyProxy(live_server.url, ["forward-then-502"]) as proxy:
        result = upload(
            "--url", proxy.url, "--token", project_key, "--commit", SHA, "--build-id", "2",
            "--job", "unit", str(report), cwd=report.parent,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert proxy.upstream_statuses == [202, 200]  # stored by the first POST, found by the second
    assert "already uploaded" in result.stdout
    assert Run.objects.count() == 1
    assert run_id_in(result.stdout) == Run.objects.get().pk


def test_it_retries_429_but_never_other_4xx(live_server, project_key, report):
    with FlakyProxy(live_server.url, ["429", "forward"]) as proxy:
        throttled = upload(
            "--url", proxy.url, "--token", project_key, "--commit", SHA, str(report),
            cwd=report.parent,
        )  # fmt: skip
    assert throttled.returncode == 0, throttled.stderr
    assert proxy.posts == 2

    with FlakyProxy(live_server.url, ["400"]) as proxy:
        refused = upload(
            "--url", proxy.url, "--token", project_key, "--commit", SHA, str(report),
            cwd=report.parent,
        )  # fmt: skip
    assert refused.returncode == 4
    assert proxy.posts == 1
    assert "retrying" not in refused.stderr
    assert "scripted 400" in refused.stderr


# --- 3. The server is down ----------------------------------------------------------------------


def test_a_server_that_is_down_only_warns_unless_strict(report):
    url = f"http://127.0.0.1:{free_port()}"
    args = ["--url", url, "--token", "k", "--commit", SHA, "--retries", "2", str(report)]

    lenient = upload(*args, cwd=report.parent)
    assert lenient.returncode == 0
    assert "warning:" in lenient.stderr
    assert "not stored" in lenient.stderr
    assert lenient.stderr.count("retrying") == 2

    strict = upload(*args, "--strict", cwd=report.parent)
    assert strict.returncode == 5
    assert "error:" in strict.stderr


# --- 4. Rejections and usage errors -------------------------------------------------------------


def test_a_malformed_file_is_rejected_with_its_code_and_position(
    live_server, project_key, tmp_path
):
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b'<testsuite name="x">\n<testcase name="a">\n<oops></testcase>\n')
    result = upload(
        "--url", live_server.url, "--token", project_key, "--commit", SHA, "broken.xml",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "malformed_xml" in result.stderr
    assert "broken.xml" in result.stderr
    assert re.search(r"line \d+, column \d+", result.stderr), result.stderr
    assert "retrying" not in result.stderr
    assert Run.objects.count() == 0


def test_a_bad_or_foreign_key_is_rejected(live_server, project_key, other_key, report):
    bad = upload(
        "--url", live_server.url, "--token", "not-a-key", "--commit", SHA, str(report),
        cwd=report.parent,
    )  # fmt: skip
    assert bad.returncode == 4
    assert "authentication_failed" in bad.stderr

    foreign = upload(
        "--url", live_server.url, "--token", other_key, "--project", "mediaserver",
        "--commit", SHA, str(report), cwd=report.parent,
    )  # fmt: skip
    assert foreign.returncode == 4
    assert "wrong_project" in foreign.stderr
    assert Run.objects.count() == 0


def test_a_server_that_does_not_answer_to_the_url_host_says_what_to_change(
    live_server, project_key, report, settings
):
    settings.ALLOWED_HOSTS = ["suitehealth.example.com"]
    refused = upload(
        "--url", live_server.url, "--token", project_key, "--commit", SHA, str(report),
        cwd=report.parent,
    )  # fmt: skip
    assert refused.returncode == 4, refused.stderr
    assert "host_not_allowed" in refused.stderr and "ALLOWED_HOSTS" in refused.stderr
    # An older server, or a proxy, answers a web page: the hint is the uploader's.
    with FlakyProxy(live_server.url, ["400-page"]) as proxy:
        page = upload(
            "--url", proxy.url, "--token", project_key, "--commit", SHA, str(report),
            cwd=report.parent,
        )  # fmt: skip
    assert page.returncode == 4, page.stderr
    assert "a web page" in page.stderr and "ALLOWED_HOSTS" in page.stderr
    assert Run.objects.count() == 0


def test_no_matching_file_exits_3(tmp_path):
    (tmp_path / "empty.xml").write_bytes(b"")
    result = upload(
        "--url", "http://127.0.0.1:9", "--token", "k", "--commit", SHA,
        "reports/**/*.xml", "empty.xml", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3
    assert "no file matches reports/**/*.xml" in result.stderr
    assert "skipping empty file empty.xml" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "k", "--commit", SHA, "r.xml"], "no server URL"),
        (["--url", "http://127.0.0.1:9", "--commit", SHA, "r.xml"], "no ingest key"),
        (["--url", "ftp://example.com", "--token", "k", "--commit", SHA, "r.xml"], "http"),
        (["--url", "http://127.0.0.1:9", "--token", "k", "r.xml"], "no commit"),
        (["--url", "http://127.0.0.1:9", "--token", "k", "--commit", SHA], "no FILE"),
        (["--url", "http://127.0.0.1:9", "--token", "k", "--retries", "-1", "r.xml"], "retries"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    (tmp_path / "r.xml").write_bytes(junit_xml(1))
    result = upload(*args, cwd=tmp_path)  # tmp_path is no git checkout: no commit to find
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_url_and_token_come_from_the_environment(live_server, project_key, report):
    env = base_env(
        SUITEHEALTH_URL=live_server.url + "/",
        SUITEHEALTH_TOKEN=project_key,
        SUITEHEALTH_PROJECT="mediaserver",
    )
    result = upload("--commit", SHA, "-q", str(report), cwd=report.parent, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # --quiet
    assert Run.objects.get().commit == SHA


def test_a_jenkins_build_url_without_a_dotted_host_is_kept(live_server, project_key, report):
    env = base_env(SUITEHEALTH_URL=live_server.url, SUITEHEALTH_TOKEN=project_key, **JENKINS)
    result = upload(str(report), cwd=report.parent, env=env)
    assert result.returncode == 0, result.stderr
    run = Run.objects.get()
    assert (run.build_id, run.job, run.build_url) == ("7", "mediaserver/main", JENKINS["BUILD_URL"])


def test_a_detected_build_url_the_server_refuses_is_dropped_not_the_upload(
    live_server, project_key, report
):
    broken = {**JENKINS, "BUILD_URL": "jenkins/job/mediaserver/7"}  # no scheme: refused
    env = base_env(SUITEHEALTH_URL=live_server.url, SUITEHEALTH_TOKEN=project_key, **broken)
    result = upload(str(report), cwd=report.parent, env=env)
    assert result.returncode == 0, result.stderr
    assert "build_url" in result.stderr
    run = Run.objects.get()
    assert (run.build_id, run.job, run.build_url) == ("7", "mediaserver/main", "")

    # The same value given as a flag is the user's word: refused, not silently dropped.
    flagged = upload("--build-url", broken["BUILD_URL"], "--build-id", "8", str(report),
                     cwd=report.parent, env=env)  # fmt: skip
    assert flagged.returncode == 4
    assert "build_url" in flagged.stderr
    assert Run.objects.count() == 1


JENKINS = {
    "JENKINS_URL": "http://jenkins:8080/",
    "GIT_COMMIT": "1" * 40,
    "BRANCH_NAME": "main",
    "BUILD_NUMBER": "7",
    "JOB_NAME": "mediaserver/main",
    "BUILD_URL": "http://jenkins:8080/job/mediaserver/job/main/7/",
}


# --- 4b. Following the run until it is parsed (--wait) ------------------------------------------


@pytest.mark.timeout(180)
def test_with_wait_it_prints_what_was_parsed_and_warns_of_a_report_without_tests(
    worker, live_server, project_key, tmp_path
):
    (tmp_path / "junit.xml").write_bytes(junit_xml(5, failed={1, 2}, skipped={4}))
    result = upload(
        "--url", live_server.url, "--token", project_key, "--commit", SHA, "--wait", "junit.xml",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "parsed: 5 tests: 2 passed, 2 failed, 0 errors, 1 skipped" in result.stdout
    assert Run.objects.get(pk=run_id_in(result.stdout)).status == Run.Status.PARSED
    assert "warning" not in result.stderr

    # A test command that ran nothing still writes a report: accepted, and said so.
    (tmp_path / "empty.xml").write_bytes(b'<testsuites name="pytest" tests="0"/>')
    result = upload(
        "--url", live_server.url, "--token", project_key, "--commit", SHA, "--build-id", "2",
        "--wait", "empty.xml", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "parsed: 0 tests" in result.stdout
    assert "warning: the uploaded files hold no test results" in result.stderr


@pytest.mark.timeout(180)
def test_with_wait_a_run_the_server_could_not_parse_exits_4_with_the_reason(
    transactional_db, served_only, live_server, project_key, report, tmp_path
):
    from tests.workers import Worker, purge_broker, wait_for

    purge_broker()
    waiting = subprocess.Popen(
        [sys.executable, str(UPLOADER), "--url", live_server.url, "--token", project_key,
         "--commit", SHA, "--wait", "--wait-timeout", "120", str(report)],
        cwd=tmp_path, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_id = wait_for(
            lambda: Run.objects.values_list("pk", flat=True).first(), timeout=60, what="the run"
        )
        # The attempt a killed worker made counts: with one attempt allowed, the worker that
        # takes the run now gives up on it, as the server does with a file that kills workers.
        Run.objects.filter(pk=run_id).update(parse_attempts=1)
        with Worker(log_path=tmp_path / "worker.log", SUITEHEALTH_MAX_PARSE_ATTEMPTS="1"):
            out, err = waiting.communicate(timeout=120)
    finally:
        waiting.kill()
    assert waiting.returncode == 4, (out, err)
    assert "the server stored the upload but could not parse it (gave_up)" in err
    assert f"/api/v1/runs/{run_id}" in err
    assert Run.objects.get(pk=run_id).status == Run.Status.FAILED


def test_with_wait_a_run_not_parsed_in_time_warns_unless_strict(
    transactional_db, served_only, live_server, project_key, report, tmp_path
):
    from tests.workers import purge_broker

    purge_broker()  # and no worker: the run stays received
    args = ["--url", live_server.url, "--token", project_key, "--commit", SHA, "--wait",
            "--wait-timeout", "2", str(report)]  # fmt: skip
    result = upload(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "waiting: the run is received" in result.stdout
    assert re.search(r"warning: run \d+: not parsed within 2 s \(the run is still received\)",
                     result.stderr), result.stderr  # fmt: skip
    strict = upload(*args, "--strict", "--build-id", "2", cwd=tmp_path)
    assert strict.returncode == 5, strict.stderr
    assert "error: run" in strict.stderr and "not parsed within 2 s" in strict.stderr


def test_with_wait_an_answer_that_asking_again_cannot_change_stops_it_at_once(
    transactional_db, served_only, live_server, project_key, report, tmp_path
):
    # A proxy that lets the upload through but answers the run's page 403, as a gateway that
    # only allows POSTs would: asking again cannot help, so the uploader does not sit out
    # --wait-timeout.
    with FlakyProxy(live_server.url, ["forward"], get="403") as proxy:
        started = time.monotonic()
        result = upload(
            "--url", proxy.url, "--token", project_key, "--commit", SHA, "--wait", str(report),
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f": cannot follow it at {proxy.url}/api/v1/runs/" in result.stderr, result.stderr
    assert "HTTP 403: scripted 403" in result.stderr
    assert time.monotonic() - started < 60


# --- 5. CI detection ----------------------------------------------------------------------------

CI_CASES = {
    "github-pull-request": (
        {**GITHUB, "GITHUB_REF_NAME": "41/merge", "GITHUB_HEAD_REF": "feature/login",
         "GITHUB_RUN_ATTEMPT": "2"},
        {"commit": SHA, "branch": "feature/login", "build_id": "9876543210-2", "job": "unit-tests",
         "build_url": "https://github.com/acme/mediaserver/actions/runs/9876543210"},
    ),
    "gitlab": (
        {"GITLAB_CI": "true", "CI": "true", "CI_COMMIT_SHA": SHA, "CI_COMMIT_REF_NAME": "main",
         "CI_PIPELINE_ID": "1234", "CI_JOB_NAME": "test: [py3.12]",
         "CI_JOB_URL": "https://gitlab.example.com/acme/ms/-/jobs/5678",
         "CI_JOB_STARTED_AT": "2026-11-02T10:00:00Z"},
        {"commit": SHA, "branch": "main", "build_id": "1234", "job": "test: [py3.12]",
         "build_url": "https://gitlab.example.com/acme/ms/-/jobs/5678",
         "started_at": "2026-11-02T10:00:00Z"},
    ),
    "jenkins-git-plugin": (
        {"JENKINS_URL": "https://ci.example.com/", "GIT_COMMIT": SHA,
         "GIT_BRANCH": "origin/release/2.1", "BUILD_NUMBER": "153",
         "BUILD_TAG": "jenkins-mediaserver-153", "JOB_NAME": "mediaserver",
         "BUILD_URL": "https://ci.example.com/job/mediaserver/153/"},
        {"commit": SHA, "branch": "release/2.1", "build_id": "153", "job": "mediaserver",
         "build_url": "https://ci.example.com/job/mediaserver/153/"},
    ),
    "jenkins-multibranch-pr": (
        {"JENKINS_URL": "https://ci.example.com/", "GIT_COMMIT": SHA, "BRANCH_NAME": "PR-24",
         "CHANGE_BRANCH": "fix/cache", "BUILD_NUMBER": "3", "JOB_NAME": "ms/PR-24",
         "BUILD_URL": "https://ci.example.com/job/ms/job/PR-24/3/"},
        {"commit": SHA, "branch": "fix/cache", "build_id": "3", "job": "ms/PR-24",
         "build_url": "https://ci.example.com/job/ms/job/PR-24/3/"},
    ),
    "circleci": (
        {"CIRCLECI": "true", "CI": "true", "CIRCLE_SHA1": SHA, "CIRCLE_BRANCH": "main",
         "CIRCLE_WORKFLOW_ID": "6e5b1a0c-2b0f-4d44-9d54-0b2c8b1d1c1e", "CIRCLE_BUILD_NUM": "88",
         "CIRCLE_JOB": "test", "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/ms/88"},
        {"commit": SHA, "branch": "main", "build_id": "6e5b1a0c-2b0f-4d44-9d54-0b2c8b1d1c1e",
         "job": "test", "build_url": "https://circleci.com/gh/acme/ms/88"},
    ),
    "buildkite": (
        {"BUILDKITE": "true", "CI": "true", "BUILDKITE_COMMIT": SHA, "BUILDKITE_BRANCH": "main",
         "BUILDKITE_BUILD_ID": "0190b3a1-1111-2222-3333-444455556666",
         "BUILDKITE_LABEL": ":pytest: unit", "BUILDKITE_STEP_KEY": "unit",
         "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/ms/builds/42"},
        {"commit": SHA, "branch": "main", "build_id": "0190b3a1-1111-2222-3333-444455556666",
         "job": ":pytest: unit", "build_url": "https://buildkite.com/acme/ms/builds/42"},
    ),
    "azure": (
        {"TF_BUILD": "True", "BUILD_SOURCEVERSION": SHA,
         "BUILD_SOURCEBRANCH": "refs/heads/feature/tools", "BUILD_SOURCEBRANCHNAME": "tools",
         "BUILD_BUILDID": "314", "AGENT_JOBNAME": "Job", "SYSTEM_JOBDISPLAYNAME": "Unit tests",
         "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
         "SYSTEM_TEAMPROJECT": "Media Server"},
        {"commit": SHA, "branch": "feature/tools", "build_id": "314", "job": "Unit tests",
         "build_url": "https://dev.azure.com/acme/Media%20Server/_build/results?buildId=314"},
    ),
    "azure-pull-request": (
        {"TF_BUILD": "True", "BUILD_SOURCEVERSION": SHA, "BUILD_SOURCEBRANCH": "refs/pull/7/merge",
         "BUILD_SOURCEBRANCHNAME": "merge", "SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/fix/x",
         "BUILD_BUILDID": "315", "AGENT_JOBNAME": "Job"},
        {"commit": SHA, "branch": "fix/x", "build_id": "315", "job": "Job"},
    ),
    "bitbucket": (
        {"CI": "true", "BITBUCKET_COMMIT": SHA, "BITBUCKET_BRANCH": "main",
         "BITBUCKET_BUILD_NUMBER": "23704",
         "BITBUCKET_STEP_UUID": "{a1b2c3d4-0000-1111-2222-333344445555}",
         "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/acme/ms"},
        {"commit": SHA, "branch": "main", "build_id": "23704",
         "job": "{a1b2c3d4-0000-1111-2222-333344445555}",
         "build_url": "http://bitbucket.org/acme/ms/pipelines/results/23704"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CI_CASES))
def test_it_reads_each_ci_from_its_environment(tmp_path, case):
    variables, expected = CI_CASES[case]
    (tmp_path / "r.xml").write_bytes(junit_xml(1))
    env = base_env(SUITEHEALTH_URL=f"http://127.0.0.1:{free_port()}", SUITEHEALTH_TOKEN="k",
                   **variables)  # fmt: skip
    sent = dry_run_fields(upload("--dry-run", "r.xml", cwd=tmp_path, env=env))
    assert sent["ci"] == case.split("-")[0]
    assert sent["fields"] == expected
    assert sent["files"] == [{"path": "r.xml", "size": len(junit_xml(1)), "gzip": False}]


def test_flags_override_what_the_ci_says(tmp_path):
    (tmp_path / "r.xml").write_bytes(junit_xml(1))
    env = base_env(SUITEHEALTH_URL="https://sh.example.com", SUITEHEALTH_TOKEN="k", **GITHUB)
    sent = dry_run_fields(upload(
        "--dry-run", "--commit", "abc", "--branch", "other", "--build-id", "b", "--job", "j",
        "--build-url", "https://ci.example.com/b", "--started-at", "2026-11-02T10:00:00+00:00",
        "--environment", "py3.8", "--service", "cache", "--project", "mediaserver", "r.xml",
        cwd=tmp_path, env=env,
    ))  # fmt: skip
    assert sent["url"] == "https://sh.example.com/api/v1/uploads"
    assert sent["fields"] == {
        "project": "mediaserver", "commit": "abc", "branch": "other", "build_id": "b", "job": "j",
        "build_url": "https://ci.example.com/b", "started_at": "2026-11-02T10:00:00+00:00",
        "environment": "py3.8", "service": "cache",
    }  # fmt: skip


def test_without_a_ci_it_asks_git(tmp_path):
    env = base_env(HOME=str(tmp_path))
    git = ["git", "-c", "user.name=CI", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "trunk"], cwd=tmp_path, env=env, check=True)
    (tmp_path / "r.xml").write_bytes(junit_xml(1))
    subprocess.run([*git, "add", "r.xml"], cwd=tmp_path, env=env, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "results"], cwd=tmp_path, env=env, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip

    env.update(SUITEHEALTH_URL="http://127.0.0.1:9", SUITEHEALTH_TOKEN="k")
    sent = dry_run_fields(upload("--dry-run", "r.xml", cwd=tmp_path, env=env))
    assert sent["ci"] is None
    assert sent["fields"] == {"commit": head, "branch": "trunk"}

    # A detached checkout has a commit but no branch.
    subprocess.run(["git", "checkout", "-q", "--detach"], cwd=tmp_path, env=env, check=True)
    sent = dry_run_fields(upload("--dry-run", "r.xml", cwd=tmp_path, env=env))
    assert sent["fields"] == {"commit": head}


def test_globs_recurse_deduplicate_and_sort(tmp_path):
    for name in ("b/deep/z.xml", "a/y.xml", "top.xml", "a/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(junit_xml(1))
    (tmp_path / "packed.xml.gz").write_bytes(gz(junit_xml(1)))
    env = base_env(SUITEHEALTH_URL="http://127.0.0.1:9", SUITEHEALTH_TOKEN="k")
    sent = dry_run_fields(upload(
        "--dry-run", "--commit", SHA, "**/*.xml", "./a/y.xml", "top.xml", "*.gz",
        cwd=tmp_path, env=env,
    ))  # fmt: skip
    assert [f["path"] for f in sent["files"]] == [
        "a/y.xml",
        "b/deep/z.xml",
        "packed.xml.gz",
        "top.xml",
    ]
    assert [f["gzip"] for f in sent["files"]] == [False, False, True, False]


# --- 6. The script served by the app ------------------------------------------------------------


def test_the_app_serves_the_uploader_itself(live_server):
    try:
        with urllib.request.urlopen(live_server.url + "/uploader.py", timeout=30) as response:
            body = response.read()
            content_type = response.headers["Content-Type"]
            cache_control = response.headers.get("Cache-Control", "")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            pytest.skip("/uploader.py is not routed: add path('', include('ingest.uploader_view'))")
        raise
    assert body == UPLOADER.read_bytes()
    assert content_type.startswith("text/x-python")
    assert "public" in cache_control


def test_the_served_script_runs_from_stdin(live_server, project_key, report):
    """`curl -fsS HOST/uploader.py | python3 - ...`, with the bytes the app serves."""
    try:
        with urllib.request.urlopen(live_server.url + "/uploader.py", timeout=30) as response:
            script = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            pytest.skip("/uploader.py is not routed: add path('', include('ingest.uploader_view'))")
        raise
    result = subprocess.run(
        [sys.executable, "-", "--url", live_server.url, "--token", project_key, "--commit", SHA,
         str(report)],
        input=script, cwd=report.parent, env=base_env(), capture_output=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Run.objects.count() == 1


# --- The script stays portable ------------------------------------------------------------------


def test_the_uploader_is_python_3_8_standard_library_only():
    source = UPLOADER.read_text()
    tree = ast.parse(source, feature_version=(3, 8))  # 3.9+ syntax fails here
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    for name in ("removeprefix", "removesuffix", "BooleanOptionalAction"):  # 3.9+ APIs
        assert name not in source
    # -I -S: no site-packages and no script directory on sys.path, so only the standard library.
    version = subprocess.run(
        [sys.executable, "-I", "-S", str(UPLOADER), "--version"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("suitehealth-upload ")


def test_dry_run_sends_nothing_and_prints_no_key(tmp_path):
    (tmp_path / "r.xml").write_bytes(junit_xml(1))
    with socket.socket() as listener:  # would see a connection if one were made
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        result = upload("--url", url, "--token", "secret-key-123", "--commit", SHA, "--dry-run",
                        "r.xml", cwd=tmp_path)  # fmt: skip
        with pytest.raises(socket.timeout):
            listener.accept()
    assert result.returncode == 0, result.stderr
    assert "secret-key-123" not in result.stdout + result.stderr
    assert dry_run_fields(result)["url"] == url + "/api/v1/uploads"


def oldest_python() -> str | None:
    """A Python 3.8 interpreter on this machine, if there is one (on PATH or under pyenv)."""
    candidates = [shutil.which("python3.8")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 8)"],
            capture_output=True, timeout=30,
        )  # fmt: skip
        if probe.returncode == 0:
            return candidate
    return None


def test_it_works_on_python_3_8(live_server, project_key, report):
    python = oldest_python()
    if python is None:
        pytest.skip("no Python 3.8 interpreter on this machine")
    with FlakyProxy(live_server.url, ["503", "forward"]) as proxy:
        result = upload(
            "--url", proxy.url, "--token", project_key, str(report), cwd=report.parent,
            env=base_env(**GITHUB), python=python,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert proxy.upstream_statuses == [202]
    assert Run.objects.get().build_id == "9876543210-1"

    down = upload(
        "--url", f"http://127.0.0.1:{free_port()}", "--token", "k", "--commit", SHA,
        "--retries", "1", "--strict", str(report), cwd=report.parent, python=python,
    )  # fmt: skip
    assert down.returncode == 5, down.stderr


@pytest.mark.parametrize("suffix", ["/api/v1/", "/api/v1/uploads"])
def test_the_api_root_or_endpoint_given_as_url_is_taken_as_the_base(
    live_server, project_key, report, suffix
):
    env = base_env(SUITEHEALTH_URL=live_server.url + suffix, SUITEHEALTH_TOKEN=project_key)
    result = upload("--commit", SHA, "-q", str(report), cwd=report.parent, env=env)
    assert result.returncode == 0, result.stderr
    assert Run.objects.get().commit == SHA


def test_a_url_where_nothing_answers_gets_a_hint_not_a_web_page(live_server, project_key, report):
    env = base_env(SUITEHEALTH_URL=live_server.url + "/suitehealth", SUITEHEALTH_TOKEN=project_key)
    result = upload("--commit", SHA, str(report), cwd=report.parent, env=env)
    assert result.returncode != 0
    assert f"nothing answers at {live_server.url}/suitehealth/api/v1/uploads" in result.stderr
    assert "<" not in result.stderr
    assert Run.objects.count() == 0


def test_following_a_run_never_sends_the_key_to_a_host_a_redirect_names() -> None:
    """The --wait polling GETs with the key: a redirect is reported, not followed."""
    from ingest.uploader import get_json

    seen: list[str | None] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: object) -> None:
            pass

    other = http.server.HTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirecting(Elsewhere):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{other.server_port}/steal")
            self.end_headers()

    first = http.server.HTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (other, first):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body, why, again = get_json(f"http://127.0.0.1:{first.server_port}/api/v1/runs/1",
                                    "shk_secret", timeout=5)  # fmt: skip
    finally:
        for server in (other, first):
            server.shutdown()
            server.server_close()
    assert (body, why.split(":")[0], again) == (None, "HTTP 302", False)
    assert seen == []
