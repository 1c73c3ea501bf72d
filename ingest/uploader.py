#!/usr/bin/env python3
"""suitehealth-upload: send a CI job's test result files to a Suitehealth server.

    suitehealth-upload --url https://suitehealth.example --token "$SUITEHEALTH_TOKEN" \\
        --project mediaserver 'reports/**/*.xml'

    curl -fsS https://suitehealth.example/uploader.py | python3 - --url ... FILE...

One file, Python 3.8+ standard library only, so it runs on any CI image that has a python3. It
reads commit, branch, build id, job, build URL and start time from the environment of GitHub
Actions, GitLab CI, Jenkins, CircleCI, Buildkite, Azure Pipelines and Bitbucket Pipelines (falling
back to `git` for commit and branch), gzips each file, and sends them all in one multipart POST to
`{url}/api/v1/uploads`. Command-line flags always win over what is detected.

Connection errors, timeouts, HTTP 429 and HTTP 5xx are retried with exponential backoff (1, 2, 4,
8, 16 s by default, capped at 30 s, with a little jitter). A retry after the server had in fact
stored the upload is harmless: the server answers 200 with the same run, because an upload is
identified by (project, build id, job, digests of the decompressed files), and by its commit too
only when it has no build id.

Exit codes:
  0  sent; also when the server could not be reached or kept answering 5xx and --strict was not
     given (a warning is printed to stderr), so an unavailable dashboard never fails a CI job
  2  usage error: missing --url, --token or commit, an unreadable file, a bad option
  3  no file matched the FILE patterns
  4  rejected by the server (HTTP 4xx, or a redirect): its error code and detail are printed;
     with --wait, also when the server stored the upload but could not parse it
  5  the server could not be reached or answered 5xx after all retries (only with --strict);
     with --wait and --strict, also when the run was not parsed within --wait-timeout

With --wait, it then follows the run until the server has parsed it and prints its counts (a
warning when the files held no test at all), so a CI log shows what the dashboard received.

Environment:
  SUITEHEALTH_URL, SUITEHEALTH_TOKEN, SUITEHEALTH_PROJECT   defaults for --url, --token, --project
  SUITEHEALTH_RETRY_BASE   first retry delay in seconds (default 1; doubles on each retry)
  and the CI variables listed in docs/ci.md.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path:
    # Run as a script, sys.path[0] is the script's directory ('' for stdin), which may hold
    # modules named like standard ones (next to this file in the server's source tree,
    # selectors.py would replace the standard `selectors` that http.client needs). Nothing but
    # the standard library is imported here, so that entry goes before any other import.
    _first = os.path.abspath(sys.path[0] or os.curdir)
    _home = os.path.dirname(os.path.abspath(globals().get("__file__") or os.curdir))
    if _first in (_home, os.path.abspath(os.curdir)):
        del sys.path[0]

import argparse  # noqa: E402
import glob  # noqa: E402
import gzip  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator, Mapping  # noqa: E402
from email.message import Message  # noqa: E402
from typing import IO  # noqa: E402

# Annotations are never evaluated (see the __future__ import), so builtin generics and `X | None`
# in them are fine on 3.8; nothing below may subscript a type at run time.

__version__ = "1.0.0"

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NO_FILES = 3
EXIT_REJECTED = 4
EXIT_UNREACHABLE = 5

# The metadata fields of an upload, in the order they are sent and shown.
FIELDS = (
    "project",
    "commit",
    "branch",
    "build_id",
    "job",
    "build_url",
    "started_at",
    "environment",
    "service",
)
# Detected values the server may refuse although the upload itself is fine (a CI variable holding
# something other than an http(s) URL, a clock far off). When the server names only such fields,
# they are dropped and the upload is sent again rather than lost.
DECORATIVE_FIELDS = ("build_url", "started_at")

RETRY_CAP_SECONDS = 30.0
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 18
MAX_RESPONSE_BYTES = 1 << 20

EPILOG = """\
exit codes:
  0  sent (or unreachable / 5xx after retries without --strict: a warning on stderr)
  2  usage error (missing --url, --token or commit; unreadable file; bad option)
  3  no file matched the FILE patterns
  4  rejected by the server (HTTP 4xx or a redirect): its error code and detail on stderr;
     with --wait, also a stored upload the server could not parse
  5  server unreachable or 5xx after all retries (only with --strict); with --wait and
     --strict, also a run not parsed within --wait-timeout

environment:
  SUITEHEALTH_URL, SUITEHEALTH_TOKEN, SUITEHEALTH_PROJECT  defaults for --url, --token, --project
  SUITEHEALTH_RETRY_BASE  first retry delay in seconds (default 1)
  CI variables of GitHub Actions, GitLab CI, Jenkins, CircleCI, Buildkite, Azure Pipelines and
  Bitbucket Pipelines fill --commit, --branch, --build-id, --job, --build-url and --started-at;
  without a CI, commit and branch come from `git rev-parse`.
"""


# --- CI detection -------------------------------------------------------------------------------


def _get(env: Mapping[str, str], *names: str) -> str:
    """The first non-empty value among `names`, or ''."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return ""


def _strip_ref(ref: str) -> str:
    """`refs/heads/feature/x` -> `feature/x`; a plain branch name is returned as is."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def _github(env: Mapping[str, str]) -> dict[str, str]:
    run_id = _get(env, "GITHUB_RUN_ID")
    attempt = _get(env, "GITHUB_RUN_ATTEMPT")
    server, repo = _get(env, "GITHUB_SERVER_URL"), _get(env, "GITHUB_REPOSITORY")
    return {
        "commit": _get(env, "GITHUB_SHA"),
        # GITHUB_REF_NAME of a pull_request event is "123/merge"; GITHUB_HEAD_REF is the branch.
        "branch": _get(env, "GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
        # A re-run keeps the run id and bumps the attempt: each attempt is its own build.
        "build_id": f"{run_id}-{attempt}" if run_id and attempt else run_id,
        "job": _get(env, "GITHUB_JOB"),
        "build_url": f"{server}/{repo}/actions/runs/{run_id}" if server and repo and run_id else "",
    }


def _gitlab(env: Mapping[str, str]) -> dict[str, str]:
    return {
        "commit": _get(env, "CI_COMMIT_SHA"),
        "branch": _get(env, "CI_COMMIT_REF_NAME"),
        "build_id": _get(env, "CI_PIPELINE_ID"),
        "job": _get(env, "CI_JOB_NAME"),
        "build_url": _get(env, "CI_JOB_URL"),
        "started_at": _get(env, "CI_JOB_STARTED_AT"),
    }


def _jenkins(env: Mapping[str, str]) -> dict[str, str]:
    # CHANGE_BRANCH is the real branch of a multibranch pull-request build (BRANCH_NAME is then
    # "PR-24"); GIT_BRANCH from the git plugin carries the remote, as in "origin/main".
    branch = _get(env, "CHANGE_BRANCH", "BRANCH_NAME")
    if not branch:
        branch = _strip_ref(_get(env, "GIT_BRANCH"))
        if branch.startswith("origin/"):
            branch = branch[len("origin/") :]
    return {
        "commit": _get(env, "GIT_COMMIT"),
        "branch": branch,
        "build_id": _get(env, "BUILD_NUMBER", "BUILD_TAG"),
        "job": _get(env, "JOB_NAME"),
        "build_url": _get(env, "BUILD_URL"),
    }


def _circleci(env: Mapping[str, str]) -> dict[str, str]:
    return {
        "commit": _get(env, "CIRCLE_SHA1"),
        "branch": _get(env, "CIRCLE_BRANCH"),
        # The workflow groups a pipeline's jobs; CIRCLE_BUILD_NUM numbers one job.
        "build_id": _get(env, "CIRCLE_WORKFLOW_ID", "CIRCLE_BUILD_NUM"),
        "job": _get(env, "CIRCLE_JOB"),
        "build_url": _get(env, "CIRCLE_BUILD_URL"),
    }


def _buildkite(env: Mapping[str, str]) -> dict[str, str]:
    commit = _get(env, "BUILDKITE_COMMIT")
    if commit == "HEAD":  # a build started by hand without a commit; git resolves it below
        commit = ""
    return {
        "commit": commit,
        "branch": _get(env, "BUILDKITE_BRANCH"),
        "build_id": _get(env, "BUILDKITE_BUILD_ID"),
        "job": _get(env, "BUILDKITE_LABEL", "BUILDKITE_STEP_KEY"),
        "build_url": _get(env, "BUILDKITE_BUILD_URL"),
    }


def _azure(env: Mapping[str, str]) -> dict[str, str]:
    # Build.SourceBranchName is only the last path segment ("feature/x" gives "x"), so the full
    # ref is preferred; a pull-request build names its source branch separately.
    branch = _strip_ref(_get(env, "SYSTEM_PULLREQUEST_SOURCEBRANCH", "BUILD_SOURCEBRANCH"))
    if not branch or branch.startswith("refs/"):
        branch = _get(env, "BUILD_SOURCEBRANCHNAME")
    build_id = _get(env, "BUILD_BUILDID")
    collection, project = _get(env, "SYSTEM_COLLECTIONURI"), _get(env, "SYSTEM_TEAMPROJECT")
    url = ""
    if collection and project and build_id:
        url = (
            f"{collection.rstrip('/')}/{urllib.parse.quote(project)}"
            f"/_build/results?buildId={urllib.parse.quote(build_id)}"
        )
    return {
        "commit": _get(env, "BUILD_SOURCEVERSION"),
        "branch": branch,
        "build_id": build_id,
        "job": _get(env, "SYSTEM_JOBDISPLAYNAME", "AGENT_JOBNAME"),
        "build_url": url,
    }


def _bitbucket(env: Mapping[str, str]) -> dict[str, str]:
    number = _get(env, "BITBUCKET_BUILD_NUMBER")
    origin = _get(env, "BITBUCKET_GIT_HTTP_ORIGIN")
    return {
        "commit": _get(env, "BITBUCKET_COMMIT"),
        "branch": _get(env, "BITBUCKET_BRANCH"),
        "build_id": number,
        "job": _get(env, "BITBUCKET_STEP_UUID"),
        "build_url": f"{origin.rstrip('/')}/pipelines/results/{number}"
        if origin and number
        else "",
    }


def _is_true(value: str) -> bool:
    return value.strip().lower() == "true"


# (name, "is this the CI?", extractor). Jenkins is last: its marker variables are the ones most
# likely to leak into other environments (an agent image, a developer's shell).
CI_SYSTEMS: tuple[
    tuple[str, Callable[[Mapping[str, str]], bool], Callable[[Mapping[str, str]], dict[str, str]]],
    ...,
] = (
    ("github", lambda e: _is_true(e.get("GITHUB_ACTIONS", "")), _github),
    ("gitlab", lambda e: _is_true(e.get("GITLAB_CI", "")), _gitlab),
    ("buildkite", lambda e: _is_true(e.get("BUILDKITE", "")), _buildkite),
    ("circleci", lambda e: _is_true(e.get("CIRCLECI", "")), _circleci),
    ("azure", lambda e: _is_true(e.get("TF_BUILD", "")), _azure),
    ("bitbucket", lambda e: bool(e.get("BITBUCKET_BUILD_NUMBER")), _bitbucket),
    ("jenkins", lambda e: bool(e.get("JENKINS_URL") or e.get("JENKINS_HOME")), _jenkins),
)


def detect_ci(env: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """The CI system running us and the metadata its variables give (empty values dropped)."""
    for name, applies, extract in CI_SYSTEMS:
        if applies(env):
            return name, {k: v for k, v in extract(env).items() if v}
    return None, {}


def _git(*args: str) -> str:
    """Output of a git command, or '' when git is missing, fails or hangs: detection is a
    convenience and must never stop an upload."""
    try:
        done = subprocess.run(
            ["git", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if done.returncode != 0:
        return ""
    return done.stdout.decode("utf-8", "replace").strip()


def detect_git() -> dict[str, str]:
    found = {"commit": _git("rev-parse", "HEAD")}
    if found["commit"]:
        branch = _git("rev-parse", "--abbrev-ref", "HEAD")
        if branch and branch != "HEAD":  # "HEAD" means a detached checkout: no branch
            found["branch"] = branch
    return {k: v for k, v in found.items() if v}


# --- Files --------------------------------------------------------------------------------------


def expand_files(patterns: list[str], warn: Callable[[str], None]) -> list[str]:
    """Regular files matching the patterns (globs with `**`, or literal paths), deduplicated by
    real path and sorted."""
    seen: dict[str, str] = {}
    for pattern in patterns:
        # A literal path wins over glob syntax, so "report[1].xml" means that file.
        matches = [pattern] if os.path.isfile(pattern) else glob.glob(pattern, recursive=True)
        matched = False
        for path in matches:
            if os.path.isdir(path):
                continue
            matched = True
            seen.setdefault(os.path.realpath(path), os.path.normpath(path))
        if not matched:
            if os.path.isdir(pattern):
                hint = f"{pattern.rstrip('/')}/**/*.xml"
                warn(f"{pattern} is a directory; give a glob such as '{hint}'")
            else:
                warn(f"no file matches {pattern}")
    return sorted(seen.values())


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def _quote_header(value: str) -> str:
    """A filename for a Content-Disposition header: no quotes or line breaks can break out."""
    return value.replace("\\", "_").replace('"', "%22").replace("\r", "").replace("\n", "")


class Body:
    """The multipart body: file parts spooled to a temporary file once (gzipped), field parts
    rebuilt in memory, so a resend with fewer fields does not compress the files again."""

    def __init__(self, files: list[str]) -> None:
        self.boundary = "suitehealth-" + uuid.uuid4().hex
        self.fields: dict[str, str] = {}
        self._spool: IO[bytes] = tempfile.TemporaryFile(prefix="suitehealth-upload-")
        for path in files:
            self._add_file(path)
        self._spool.write(f"--{self.boundary}--\r\n".encode())
        self._files_size = self._spool.tell()

    def _add_file(self, path: str) -> None:
        name = _quote_header(os.path.basename(path)) or "results"
        head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/gzip\r\n\r\n"
        )
        self._spool.write(head.encode("utf-8"))
        with open(path, "rb") as src:
            if src.read(2) == GZIP_MAGIC:
                src.seek(0)
                shutil.copyfileobj(src, self._spool, CHUNK)
            else:
                src.seek(0)
                # mtime=0 and no name: the same file always gives the same bytes.
                with gzip.GzipFile(
                    filename="", fileobj=self._spool, mode="wb", compresslevel=6, mtime=0
                ) as gz:
                    shutil.copyfileobj(src, gz, CHUNK)
        self._spool.write(b"\r\n")

    def _fields_bytes(self) -> bytes:
        parts = []
        for name, value in self.fields.items():
            parts.append(
                f"--{self.boundary}\r\n"
                f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n"
            )
        return "".join(parts).encode("utf-8")

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def length(self) -> int:
        return len(self._fields_bytes()) + self._files_size

    def chunks(self) -> Iterator[bytes]:
        """The body from the start: a fresh iterator for every attempt."""
        yield self._fields_bytes()
        self._spool.seek(0)
        while True:
            block = self._spool.read(CHUNK)
            if not block:
                return
            yield block

    def close(self) -> None:
        self._spool.close()


# --- Sending ------------------------------------------------------------------------------------


class Outcome:
    """What sending came to. kind: 'ok'; 'rejected' (final, exit 4); 'retry' (transient, one
    attempt); 'unreachable' (no answer worth having after the retries, or a certificate refused)."""

    def __init__(
        self,
        kind: str,
        status: int = 0,
        body: dict | None = None,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.kind = kind
        self.status = status
        self.body = body or {}
        self.reason = reason
        self.retry_after = retry_after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST loses its body (or, for 307/308, is refused by urllib): report it. A
    redirected GET is not followed either: urllib would send the key to the other host."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> None:
        return None


def _json_body(raw: bytes) -> dict | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _retry_after(headers: Message | Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None  # an HTTP date is allowed too; the backoff delay then applies


def _headers(token: str) -> dict[str, str]:
    """What every request to the server carries."""
    return {
        "Authorization": f"Token {token}",
        "Accept": "application/json",
        "User-Agent": f"suitehealth-upload/{__version__} python/{sys.version.split()[0]}",
    }


def post_once(url: str, body: Body, token: str, timeout: float) -> Outcome:
    request = urllib.request.Request(
        url,
        data=body.chunks(),
        method="POST",
        headers={
            **_headers(token),
            "Content-Type": body.content_type,
            "Content-Length": str(body.length()),
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            raw = response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            raw = exc.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException):
            raw = b""
        parsed = _json_body(raw)
        if 300 <= status < 400:
            where = exc.headers.get("Location", "?") if exc.headers else "?"
            return Outcome(
                "rejected",
                status,
                reason=f"the server redirected to {where}; give --url as the final base URL",
            )
        if status == 429 or status >= 500:
            # 429 asks to come back later; it is not a verdict on the upload.
            return Outcome("retry", status, parsed, f"HTTP {status}", _retry_after(exc.headers))
        if parsed is None:
            text = raw.decode("utf-8", "replace").strip()[:300]
            if status == 404:
                text = f"nothing answers at {url}; is --url the server's base URL?"
            elif text.startswith("<") and status == 400:
                text = (
                    f"{exc.reason} (a web page, not a Suitehealth answer; a server that does not"
                    " answer to the host name in --url says so: check its ALLOWED_HOSTS)"
                )
            elif text.startswith("<"):
                text = f"{exc.reason} (a web page, not a Suitehealth answer)"
            return Outcome("rejected", status, reason=f"HTTP {status}: {text or exc.reason}")
        return Outcome("rejected", status, parsed)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            # Trying again cannot make a certificate valid.
            return Outcome("unreachable", reason=f"TLS certificate not accepted: {exc.reason}")
        return Outcome("retry", reason=f"cannot connect: {exc.reason}")
    except (socket.timeout, TimeoutError):  # noqa: UP041 (distinct classes before 3.10)
        return Outcome("retry", reason=f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome("retry", reason=f"connection failed: {exc.__class__.__name__}: {exc}")
    parsed = _json_body(raw)
    if parsed is None or "run" not in parsed:
        return Outcome(
            "rejected",
            status,
            reason=f"HTTP {status} but not a Suitehealth answer; is --url the server's base URL?",
        )
    return Outcome("ok", status, parsed)


def _retry_base() -> float:
    try:
        return max(0.0, float(os.environ.get("SUITEHEALTH_RETRY_BASE", "1")))
    except ValueError:
        return 1.0


def backoff(attempt: int, base: float) -> float:
    """Delay before retry number `attempt` (0-based): base * 2**attempt, capped, plus up to 10%
    jitter so many CI jobs hitting a recovering server do not retry in lockstep."""
    delay = min(RETRY_CAP_SECONDS, base * (2**attempt))
    return delay * (1 + random.uniform(0, 0.1))


def post_with_retries(
    url: str, body: Body, token: str, timeout: float, retries: int, note: Callable[[str], None]
) -> Outcome:
    base = _retry_base()
    outcome = Outcome("retry", reason="not sent")
    for attempt in range(retries + 1):
        outcome = post_once(url, body, token, timeout)
        if outcome.kind != "retry":
            return outcome
        if attempt == retries:
            break
        delay = backoff(attempt, base)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, RETRY_CAP_SECONDS))
        note(
            f"attempt {attempt + 1} of {retries + 1} failed ({outcome.reason}); "
            f"retrying in {delay:.1f} s"
        )
        time.sleep(delay)
    outcome.kind = "unreachable"
    return outcome


def get_json(url: str, token: str, timeout: float) -> tuple[dict | None, str, bool]:
    """GET a JSON object: (the object, "", False) or (None, why not, whether asking again may
    help: not after a 4xx other than 429)."""
    request = urllib.request.Request(url, headers=_headers(token))
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=timeout) as response:
            raw = response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        try:
            body = _json_body(exc.read(MAX_RESPONSE_BYTES)) or {}
        except (OSError, http.client.HTTPException):
            body = {}
        detail = f": {body['detail']}" if body.get("detail") else ""
        return None, f"HTTP {exc.code}{detail}", exc.code == 429 or exc.code >= 500
    except urllib.error.URLError as exc:
        return None, f"cannot connect: {exc.reason}", True
    except (socket.timeout, TimeoutError):  # noqa: UP041 (distinct classes before 3.10)
        return None, f"no answer within {timeout:g} s", True
    except (OSError, http.client.HTTPException) as exc:
        return None, f"connection failed: {exc.__class__.__name__}: {exc}", True
    parsed = _json_body(raw)
    return (parsed, "", False) if parsed is not None else (None, "not a JSON object", True)


# Seconds between two looks at a run being parsed: soon at first (most uploads parse in a second
# or two), then every few seconds.
WAIT_POLLS = (0.5, 1.0, 1.0, 2.0, 3.0)
WAIT_POLL_MAX = 5.0


def wait_parsed(
    run_url: str, token: str, *, deadline: float, timeout: float, say: Callable[[str], None]
) -> tuple[dict | None, str]:
    """Follow the run at `run_url` until the server has parsed it or given up on it: (the run,
    "") once its status is parsed or failed, else (None, a message saying why not) at `deadline`
    (time.monotonic), or at once after an answer that asking again cannot change (a 4xx).
    Answers that fail for now (a restart, a 5xx) are looked at again until then."""
    last_status, problem, polls = "", "", 0
    started = time.monotonic()
    while True:
        wait = min(timeout, max(1.0, deadline - time.monotonic()))
        run, problem, transient = get_json(run_url, token, wait)
        if run is None and not transient:
            return None, f"cannot follow it at {run_url}: {problem}"
        if run is not None:
            status = str(run.get("status", "?"))
            if status in ("parsed", "failed"):
                return run, ""
            if status != last_status:
                say(f"waiting: the run is {status}")
                last_status = status
            problem = f"the run is still {status}"
        delay = WAIT_POLLS[polls] if polls < len(WAIT_POLLS) else WAIT_POLL_MAX
        polls += 1
        if time.monotonic() + delay > deadline:
            return None, f"not parsed within {deadline - started:.0f} s ({problem})"
        time.sleep(delay)


def describe_counts(counts: Mapping[str, object]) -> str:
    def n(key: str) -> int:
        value = counts.get(key, 0)
        return value if isinstance(value, int) else 0

    text = (
        f"{n('tests'):,} tests: {n('passed'):,} passed, {n('failed'):,} failed, "
        f"{n('error'):,} error{'' if n('error') == 1 else 's'}, {n('skipped'):,} skipped"
    )
    if n("flaky"):
        text += f"; {n('flaky'):,} failed and then passed on a retry"
    return text


# --- Output -------------------------------------------------------------------------------------


def _position(error: Mapping[str, object]) -> list[str]:
    """The "  at file F, line L, column C" line of an error, if it names a place."""
    where = [f"{key} {error[key]}" for key in ("file", "line", "column") if error.get(key)]
    return ["  at " + ", ".join(where)] if where else []


def describe_parse_failure(run_url: str, error: object) -> str:
    error = error if isinstance(error, dict) else {}
    code = error.get("error", "error")
    return "\n".join(
        [
            f"error: the server stored the upload but could not parse it ({code}): "
            f"{error.get('detail', '')}",
            *_position(error),
            f"  run: {run_url}",
        ]
    )


def describe_rejection(outcome: Outcome) -> str:
    body = outcome.body
    if not body:
        return f"error: the server rejected the upload: {outcome.reason}"
    code = body.get("error", "error")
    lines = [
        f"error: the server rejected the upload (HTTP {outcome.status} {code}): "
        f"{body.get('detail', '')}",
        *_position(body),
    ]
    fields = body.get("fields")
    if isinstance(fields, dict):
        for name, problems in sorted(fields.items()):
            lines.append(f"  {name}: {_problem_text(problems)}")
    return "\n".join(lines)


def _problem_text(problems: object) -> str:
    if isinstance(problems, list):
        return "; ".join(str(p) for p in problems)
    return str(problems)


def _droppable(outcome: Outcome, detected_only: list[str]) -> list[str]:
    """The detected decorative fields to drop when the server refused exactly those."""
    if outcome.status != 400 or outcome.body.get("error") != "invalid":
        return []
    named = outcome.body.get("fields")
    if not isinstance(named, dict) or not named:
        return []
    names = list(named)
    if all(name in detected_only for name in names):
        return names
    return []


# --- Command line -------------------------------------------------------------------------------


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suitehealth-upload",
        description="Upload test result files (JUnit XML, CTRF JSON, TRX, NUnit, xUnit.net, "
        "go test -json, mocha, rspec and dart test JSON; plain or gzip) of one CI job to a "
        "Suitehealth server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="file or glob ('**' recurses)")
    parser.add_argument("--url", help="server base URL (env SUITEHEALTH_URL)")
    parser.add_argument("--token", help="the project's ingest key (env SUITEHEALTH_TOKEN)")
    parser.add_argument(
        "--project", help="project slug, checked against the key (env SUITEHEALTH_PROJECT)"
    )
    parser.add_argument("--service", help="put every test of this upload in this service")
    parser.add_argument("--commit", help="commit SHA (default: from the CI, else git)")
    parser.add_argument("--branch", help="branch (default: from the CI, else git)")
    parser.add_argument("--build-id", dest="build_id", help="CI build or pipeline id")
    parser.add_argument("--job", help="CI job name")
    parser.add_argument("--build-url", dest="build_url", help="link to the CI build")
    parser.add_argument("--started-at", dest="started_at", help="start time, ISO 8601")
    parser.add_argument("--environment", help="free text, e.g. 'py3.12-linux'")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be sent; send nothing"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 5 when the server is unreachable (default: warn, exit 0)",
    )
    parser.add_argument(
        "--timeout", type=_positive_float, default=120.0, help="seconds per attempt (default 120)"
    )
    parser.add_argument(
        "--retries",
        type=_non_negative_int,
        default=5,
        help="retries after the first attempt (default 5)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="after the upload, wait until the server has parsed it and print its counts",
    )
    parser.add_argument(
        "--wait-timeout",
        dest="wait_timeout",
        type=_positive_float,
        default=600.0,
        help="seconds --wait waits at most (default 600)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _base_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    # Tolerate the endpoint itself, or the API's root, being given as the base.
    for suffix in ("/api/v1/uploads", "/api/v1", "/api"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ

    def say(message: str) -> None:
        if not args.quiet:
            print(message, flush=True)

    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)

    def fail(code: int, message: str) -> int:
        print(f"error: {message}", file=sys.stderr, flush=True)
        return code

    url = _base_url(args.url or env.get("SUITEHEALTH_URL", ""))
    token = (args.token or env.get("SUITEHEALTH_TOKEN", "")).strip()
    project = (args.project or env.get("SUITEHEALTH_PROJECT", "")).strip()
    if not url:
        return fail(EXIT_USAGE, "no server URL: pass --url or set SUITEHEALTH_URL")
    if (
        urllib.parse.urlsplit(url).scheme not in ("http", "https")
        or not urllib.parse.urlsplit(url).netloc
    ):
        return fail(EXIT_USAGE, f"--url must be an http:// or https:// URL, not {url!r}")
    if not token:
        return fail(EXIT_USAGE, "no ingest key: pass --token or set SUITEHEALTH_TOKEN")
    if not args.files:
        return fail(EXIT_USAGE, "no FILE given (e.g. 'reports/**/*.xml')")

    files = expand_files(args.files, warn)
    unreadable = [p for p in files if not os.access(p, os.R_OK)]
    if unreadable:
        return fail(EXIT_USAGE, "cannot read " + ", ".join(unreadable))
    empty = [p for p in files if os.path.getsize(p) == 0]
    for path in empty:
        # An empty report is a crashed run's leftover; sending it would get the upload refused.
        warn(f"skipping empty file {path}")
    files = [p for p in files if p not in empty]
    if not files:
        return fail(EXIT_NO_FILES, "no result file matched " + " ".join(args.files))

    ci, detected = detect_ci(env)
    if "commit" not in detected or "branch" not in detected:
        for key, value in detect_git().items():
            detected.setdefault(key, value)
    given = {name: getattr(args, name) for name in FIELDS if name != "project"}
    fields: dict[str, str] = {}
    if project:
        fields["project"] = project
    for name in FIELDS[1:]:
        value = given[name] if given[name] is not None else detected.get(name, "")
        if value:
            fields[name] = value
    if not fields.get("commit"):
        return fail(
            EXIT_USAGE,
            "no commit: pass --commit (no CI variables were found and `git rev-parse HEAD` failed)",
        )
    # Only values we found ourselves may be dropped to save an upload; a flag is the user's word.
    detected_only = [n for n in DECORATIVE_FIELDS if given[n] is None and n in fields]

    upload_url = f"{url}/api/v1/uploads"
    if args.dry_run:
        listing = [{"path": p, "size": os.path.getsize(p), "gzip": _is_gzip(p)} for p in files]
        say(f"dry run: would POST {len(files)} file(s) to {upload_url} (ci: {ci or 'none'})")
        for item in listing:
            say(f"  {item['path']} ({item['size']:,} bytes{', gzip' if item['gzip'] else ''})")
        for name, value in fields.items():
            say(f"  {name} = {value}")
        print(
            json.dumps({"url": upload_url, "ci": ci, "fields": fields, "files": listing}),
            flush=True,
        )
        return EXIT_OK

    body = Body(files)
    try:
        while True:
            body.fields = fields
            outcome = post_with_retries(upload_url, body, token, args.timeout, args.retries, warn)
            drop = _droppable(outcome, detected_only) if outcome.kind == "rejected" else []
            if not drop:
                break
            problems = outcome.body.get("fields", {})
            for name in drop:
                warn(
                    f"the server refused the detected {name} {fields[name]!r} "
                    f"({_problem_text(problems.get(name))}); sending the upload without it"
                )
            fields = {k: v for k, v in fields.items() if k not in drop}
            detected_only = [n for n in detected_only if n not in drop]
    finally:
        body.close()

    if outcome.kind == "ok":
        run = outcome.body.get("run")
        status = outcome.body.get("status", "?")
        run_url = f"{url}/api/v1/runs/{run}"
        if outcome.status == 200:
            say(f"already uploaded: {run_url} (same build, job and files; status: {status})")
            for name, values in sorted(outcome.body.get("ignored", {}).items()):
                warn(
                    f"{name} {values.get('sent')!r} was not applied; the stored run keeps"
                    f" {values.get('stored')!r} (a new upload needs another --build-id or --job)"
                )
        else:
            say(f"uploaded {len(files)} file(s): {run_url} (status: {status})")
        if not args.wait:
            return EXIT_OK
        detail, problem = wait_parsed(
            run_url, token, deadline=time.monotonic() + args.wait_timeout, timeout=args.timeout,
            say=say,
        )  # fmt: skip
        if detail is None:
            message = f"run {run}: {problem}"
            if args.strict:
                return fail(EXIT_UNREACHABLE, message)
            warn(message + "; it stays stored and will be parsed (exit 0: --strict not given)")
            return EXIT_OK
        if detail.get("status") == "failed":
            print(describe_parse_failure(run_url, detail.get("error")), file=sys.stderr, flush=True)
            return EXIT_REJECTED
        counts = detail.get("counts")
        if not isinstance(counts, dict):
            counts = {}
        say(f"parsed: {describe_counts(counts)}")
        if not counts.get("tests"):
            warn(
                "the uploaded files hold no test results: did the tests run, and do the FILE "
                "patterns name their report?"
            )
        return EXIT_OK
    if outcome.kind == "rejected":
        print(describe_rejection(outcome), file=sys.stderr, flush=True)
        return EXIT_REJECTED
    message = f"could not upload to {upload_url}: {outcome.reason}; the results were not stored"
    if args.strict:
        return fail(EXIT_UNREACHABLE, message)
    warn(message + " (exit 0 because --strict was not given)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
