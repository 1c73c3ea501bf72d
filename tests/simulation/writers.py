"""Result files in the shapes real tools write: pytest and gotestsum JUnit XML, and CTRF JSON.

Document order is execution order within each worker (pytest and CTRF interleave the workers by
start time; gotestsum writes one <testsuite> per package, which is that package's process), and
every test carries its start time, consistent with that order.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass

from tests.simulation.behaviours import (
    BROKEN,
    CASCADE,
    ERROR,
    FAILED,
    FLAKY,
    LEAK,
    OD,
    OUTAGE,
    PASSED,
    REGRESSION,
    SKIPPED,
    RunOutcome,
    ServiceModel,
)
from tests.simulation.model import TestDef

UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class RunContext:
    """The CI facts a writer may echo into the document."""

    project: str
    service: str
    commit: str
    branch: str
    build_id: str
    job: str
    build_url: str
    started: dt.datetime  # when the job started; tests start a little later
    seq: int


# --- Escaping and time ------------------------------------------------------------------------


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
    )


def _text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class _Clock:
    """ISO 8601 start times of a run's tests, formatted without a datetime per test."""

    __slots__ = ("t0", "prefix", "base")

    def __init__(self, t0: dt.datetime) -> None:
        t0 = t0.astimezone(UTC)
        self.t0 = t0
        self.prefix = t0.strftime("%Y-%m-%dT")
        self.base = ((t0.hour * 60 + t0.minute) * 60 + t0.second) * 1000 + t0.microsecond // 1000

    def at(self, offset_ms: int) -> str:
        ms = self.base + offset_ms
        if ms >= 86_400_000:  # past midnight: rare enough for the slow path
            return _iso(self.t0 + dt.timedelta(milliseconds=offset_ms))
        s, milli = divmod(ms, 1000)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return f"{self.prefix}{h:02d}:{m:02d}:{s:02d}.{milli:03d}+00:00"


def _epoch_ms(moment: dt.datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


# --- Failure messages -------------------------------------------------------------------------

_FIXTURES = {"cache": "store", "plex": "plex_client", "youtube": "youtube_api"}
_HOSTS = ("redis:6379", "postgres:5432", "minio:9000", "plex-mock:32400")


def _pytest_failure(service: str, d: TestDef, cause: int) -> tuple[str, str]:
    """(message, traceback) as pytest would write them, short."""
    fx = _FIXTURES.get(service, "client")
    func = d.ident.name.split("[", 1)[0]
    where = f"{d.ident.file}:{d.line + 3}"
    address = f"0x7f{(d.idx * 2654435761) % 0xFFFFFFFFFF:010x}"
    head = f"{fx} = <{fx.title().replace('_', '')} object at {address}>\n\n    def {func}({fx}):\n"
    if cause == FLAKY:
        variant = d.idx % 3
        if variant == 0:
            err, exc = "TimeoutError: timed out after 2.0s waiting for 'ready'", "TimeoutError"
            code = f'        {fx}.start()\n>       {fx}.wait_for("ready", timeout=2.0)\n'
        elif variant == 1:
            err, exc = "AssertionError: assert 'pending' == 'done'", "AssertionError"
            code = (
                f'        job = {fx}.submit()\n>       assert job.status == "done"\n'
                "E       AssertionError: assert 'pending' == 'done'\nE         - done\n"
                "E         + pending\n"
            )
            return err, head + code + f"\n{where}: {exc}"
        else:
            err, exc = (
                "ConnectionResetError: [Errno 104] Connection reset by peer",
                "ConnectionResetError",
            )
            code = f"        with {fx}.stream() as s:\n>           s.read_all()\n"
    elif cause == LEAK:
        err, exc = "AssertionError: transaction still open at teardown", "AssertionError"
        code = (
            f"        {fx}.begin()\n        {fx}.write(key, value)\n"
            f">       assert not {fx}.in_transaction()\n"
        )
    elif cause == OD:
        err, exc = "AssertionError: assert 1 == 0", "AssertionError"
        code = (
            f">       assert len({fx}.items()) == 0\nE       AssertionError: assert 1 == 0\n"
            "E        +  where 1 = len(['stale-entry'])\n"
        )
        return err, head + code + f"\n{where}: {exc}"
    elif cause == CASCADE:
        err = 'failed on setup with "OperationalError: connection already closed"'
        return err, (
            "    @pytest.fixture\n    def db_session(db):\n"
            '>       db.execute("SELECT 1")\n'
            "E       OperationalError: connection already closed\n\n"
            "tests/conftest.py:31: OperationalError"
        )
    elif cause == REGRESSION:
        err, exc = "AssertionError: assert 500 == 200", "AssertionError"
        code = (
            f'        response = {fx}.get("/v1/items")\n>       assert response.status_code'
            " == 200\nE       assert 500 == 200\nE        +  where 500 = <Response [500]>"
            ".status_code\n"
        )
        return err, head + code + f"\n{where}: {exc}"
    elif cause == BROKEN:
        err, exc = (
            f"AttributeError: '{fx.title().replace('_', '')}' object has no attribute "
            "'refresh_section'",
            "AttributeError",
        )
        code = f'>       {fx}.refresh_section("movies")\n'
    elif cause == OUTAGE:
        name, port = _HOSTS[d.group % len(_HOSTS)].split(":")
        refused = f"ConnectionRefusedError: [Errno 111] Connect call failed ('10.0.3.7', {port})"
        return f'failed on setup with "{refused}"', (
            f"    @pytest.fixture\n    def {fx}(settings):\n"
            f">       return connect(settings.{name.replace('-', '_')}_url)\n"
            f"E       {refused}\n\ntests/conftest.py:18: ConnectionRefusedError"
        )
    else:
        err, exc = "AssertionError", "AssertionError"
        code = ">       assert False\n"
    return err, head + code + f"E       {err}\n\n{where}: {exc}"


def _java_failure(d: TestDef, cause: int) -> tuple[str, str]:
    cls = d.ident.classname
    method = d.ident.name.rstrip("()")
    simple = cls.rsplit(".", 1)[-1]
    frame = f"\tat {cls}.{method}({simple}.java:{d.line + 4})"
    if cause == FLAKY:
        if d.idx % 2:
            msg = "java.util.concurrent.TimeoutException: session store did not answer in 2000 ms"
        else:
            msg = "org.opentest4j.AssertionFailedError: expected: <ACTIVE> but was: <PENDING>"
    elif cause == LEAK:
        msg = "java.lang.IllegalStateException: transaction still active at teardown"
    elif cause == OD:
        msg = "org.opentest4j.AssertionFailedError: expected: <0> but was: <1>"
    elif cause == CASCADE:
        msg = "java.sql.SQLException: Connection is closed"
    elif cause == REGRESSION:
        msg = "org.opentest4j.AssertionFailedError: expected: <200> but was: <500>"
    elif cause == BROKEN:
        msg = "java.lang.UnsupportedOperationException: not implemented"
    elif cause == OUTAGE:
        msg = "java.net.ConnectException: Connection refused"
    else:
        msg = "org.opentest4j.AssertionFailedError"
    trace = (
        f"{msg}\n\tat org.junit.jupiter.api.AssertionFailureBuilder.build("
        f"AssertionFailureBuilder.java:151)\n{frame}"
    )
    return msg, trace


def _go_failure(d: TestDef, cause: int, duration_ms: int) -> tuple[str, str]:
    file = d.ident.file.rsplit("/", 1)[-1]
    line = d.line + 5
    if cause == FLAKY:
        text = "unexpected error: context deadline exceeded"
    elif cause == LEAK:
        text = "key cache not empty after test: 1 entries"
    elif cause == OD:
        text = "got 1 cached keys, want 0"
    elif cause == CASCADE:
        text = "jwks server: listen tcp 127.0.0.1:8089: bind: address already in use"
    elif cause == REGRESSION:
        text = 'claims.Audience = "media", want "mediaserver"'
    elif cause == BROKEN:
        text = "Verify() returned nil error for a token signed with an unknown key"
    elif cause == OUTAGE:
        text = "dial tcp 10.0.3.9:6379: connect: connection refused"
    else:
        text = "failed"
    body = (
        f"=== RUN   {d.ident.name}\n    {file}:{line}: {text}\n"
        f"--- FAIL: {d.ident.name} ({duration_ms / 1000:.2f}s)\n"
    )
    return "Failed", body


def failure_text(model: ServiceModel, test: int, cause: int, duration_ms: int) -> tuple[str, str]:
    """(message, body) for a failed attempt of `test`, in its suite's language."""
    d = model.defs[test]
    style = model.spec.style
    if style == "java":
        return _java_failure(d, cause)
    if style == "go":
        return _go_failure(d, cause, duration_ms)
    return _pytest_failure(model.spec.name, d, cause)


# --- JUnit XML --------------------------------------------------------------------------------


def _hostname(ctx: RunContext) -> str:
    digest = hashlib.blake2b(f"{ctx.build_id}/{ctx.job}".encode(), digest_size=3).hexdigest()
    return f"runner-{digest}"


def _testcase_attrs(model: ServiceModel, test: int) -> str:
    """Escaped identity attributes of a testcase, the same in every run (cached per model)."""
    cache = model.render_cache
    found = cache.get(test)
    if found is None:
        d = model.defs[test]
        found = (
            f'classname="{_attr(d.ident.classname)}" name="{_attr(d.ident.name)}" '
            f'file="{_attr(d.ident.file)}"'
        )
        if model.spec.style == "pytest":
            found += f' line="{d.line}"'
        cache[test] = found
    return found


def write_junit_pytest(model: ServiceModel, ctx: RunContext, run: RunOutcome) -> bytes:
    """pytest's JUnit XML (xunit1 family: file and line on each testcase), one suite.

    Each testcase carries its worker as a `worker` property (its timeline) and its start time
    as a `timestamp` attribute; a retried test appears once per attempt, in order.
    """
    t0 = ctx.started
    clock = _Clock(t0)
    errors = failures = skipped = 0
    parts: list[str] = []
    worker_props = [
        f'<properties><property name="worker" value="{_attr(name)}"/></properties>'
        for name in run.worker_names
    ]
    for w, test, _attempt, outcome, duration, start, cause in run.attempts:
        head = (
            f'    <testcase {_testcase_attrs(model, test)} time="{_seconds(duration)}" '
            f'timestamp="{clock.at(start)}">\n'
            f"      {worker_props[w]}\n"
        )
        if outcome == PASSED:
            parts.append(head + "    </testcase>\n")
            continue
        if outcome == SKIPPED:
            skipped += 1
            d = model.defs[test]
            reason = _attr(d.skip)
            parts.append(
                head + f'      <skipped type="pytest.skip" message="{reason}">'
                f"{_text(d.ident.file)}:{d.line}: {_text(d.skip)}</skipped>\n"
                "    </testcase>\n"
            )
            continue
        message, body = failure_text(model, test, cause, duration)
        tag = "error" if outcome == ERROR else "failure"
        if outcome == ERROR:
            errors += 1
        else:
            failures += 1
        parts.append(
            head + f'      <{tag} message="{_attr(message)}">{_text(body)}</{tag}>\n'
            "    </testcase>\n"
        )
    suite_start = t0 + dt.timedelta(milliseconds=min((a[5] for a in run.attempts), default=0))
    header = (
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">\n'
        f'  <testsuite name="pytest" errors="{errors}" failures="{failures}" '
        f'skipped="{skipped}" tests="{len(run.attempts)}" time="{_seconds(run.wall_ms)}" '
        f'timestamp="{_iso(suite_start)}" hostname="{_hostname(ctx)}">\n'
    )
    return (header + "".join(parts) + "  </testsuite>\n</testsuites>\n").encode("utf-8")


def write_junit_go(model: ServiceModel, ctx: RunContext, run: RunOutcome) -> bytes:
    """gotestsum's JUnit XML: one <testsuite> per package, each package its own process.

    The package's timeline is a `worker` property on its <testsuite> (go test runs every
    package in its own process); testcases carry `file` and a start `timestamp`.
    """
    t0 = ctx.started
    clock = _Clock(t0)
    by_worker: list[list[tuple[int, int, int, int, int, int, int]]] = [[] for _ in run.worker_names]
    for a in run.attempts:
        by_worker[a[0]].append(a)
    suites: list[str] = []
    total = total_fail = 0
    for w, package in enumerate(run.worker_names):
        attempts = by_worker[w]
        if not attempts:
            continue
        fails = skips = 0
        cases: list[str] = []
        for _w, test, _attempt, outcome, duration, start, cause in attempts:
            head = (
                f'\t\t<testcase {_testcase_attrs(model, test)} time="{_seconds(duration)}" '
                f'timestamp="{clock.at(start)}">'
            )
            if outcome == PASSED:
                cases.append(head + "</testcase>\n")
            elif outcome == SKIPPED:
                skips += 1
                d = model.defs[test]
                text = (
                    f"=== RUN   {d.ident.name}\n    {d.ident.file.rsplit('/', 1)[-1]}:"
                    f"{d.line + 1}: {d.skip}\n--- SKIP: {d.ident.name} (0.00s)\n"
                )
                cases.append(
                    head + f'\n\t\t\t<skipped message="{_attr(text)}"></skipped>\n\t\t</testcase>\n'
                )
            else:
                fails += 1
                message, body = failure_text(model, test, cause, duration)
                cases.append(
                    head + f'\n\t\t\t<failure message="{_attr(message)}" type="">'
                    f"{_text(body)}</failure>\n\t\t</testcase>\n"
                )
        first = attempts[0][5]
        last = max(a[5] + a[4] for a in attempts)
        total += len(attempts)
        total_fail += fails
        suites.append(
            f'\t<testsuite tests="{len(attempts)}" failures="{fails}" time="'
            f'{_seconds(last - first)}" name="{_attr(package)}" timestamp="'
            f'{_iso(t0 + dt.timedelta(milliseconds=first))}" skipped="{skips}">\n'
            "\t\t<properties>\n"
            '\t\t\t<property name="go.version" value="go1.22.5 linux/amd64"></property>\n'
            f'\t\t\t<property name="worker" value="{_attr(package)}"></property>\n'
            "\t\t</properties>\n" + "".join(cases) + "\t</testsuite>\n"
        )
    header = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="{total}" '
        f'failures="{total_fail}" errors="0" time="{_seconds(run.wall_ms)}">\n'
    )
    return (header + "".join(suites) + "</testsuites>\n").encode("utf-8")


# --- CTRF JSON --------------------------------------------------------------------------------

_CTRF_STATUS = {PASSED: "passed", FAILED: "failed", ERROR: "failed", SKIPPED: "skipped"}
_TOOLS = {"pytest": ("pytest", "8.3.4"), "java": ("junit", "5.11.3"), "go": ("go test", "1.22.5")}


def write_ctrf(model: ServiceModel, ctx: RunContext, run: RunOutcome) -> bytes:
    """CTRF 1.0 JSON: one entry per test, in order of its first attempt's start.

    Identity: `name` is the JUnit name, `suite` is [file, classname] (the classname last),
    `filePath` the file, `line` the line. `threadId` is the worker (timeline); `start`/`stop`
    are epoch milliseconds. A retried test keeps its final `status` and the final attempt's
    `duration`, with `retries` = attempts - 1, `retryAttempts` listing every attempt
    (attempt 1 = the first execution), and `flaky` when a failed attempt was followed by a pass.
    """
    t0 = _epoch_ms(ctx.started)
    entries: dict[int, list[tuple[int, int, int, int, int, int, int]]] = {}
    for a in run.attempts:
        entries.setdefault(a[1], []).append(a)
    tests: list[dict[str, object]] = []
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    flaky_count = 0
    classnames: set[str] = set()
    for test, attempts in entries.items():
        d = model.defs[test]
        first, last = attempts[0], attempts[-1]
        status = _CTRF_STATUS[last[3]]
        counts[status] += 1
        classnames.add(d.ident.classname)
        entry: dict[str, object] = {
            "name": d.ident.name,
            "status": status,
            "duration": last[4],
            "start": t0 + first[5],
            "stop": t0 + last[5] + last[4],
            "suite": [d.ident.file, d.ident.classname],
            "filePath": d.ident.file,
            "line": d.line,
            "threadId": run.worker_names[first[0]],
        }
        if status == "skipped":
            entry["message"] = d.skip
        failed = [a for a in attempts if a[3] in (FAILED, ERROR)]
        if status == "failed":
            message, trace = failure_text(model, test, last[6], last[4])
            entry["message"] = message
            entry["trace"] = trace
            if last[3] == ERROR:
                entry["rawStatus"] = "error"
        if len(attempts) > 1:
            entry["retries"] = len(attempts) - 1
            entry["flaky"] = bool(failed) and last[3] == PASSED
            flaky_count += entry["flaky"] is True
            retry_attempts = []
            for a in attempts:
                item: dict[str, object] = {
                    "attempt": a[2],
                    "status": _CTRF_STATUS[a[3]],
                    "duration": a[4],
                    "start": t0 + a[5],
                    "stop": t0 + a[5] + a[4],
                }
                if a[3] in (FAILED, ERROR):
                    message, trace = failure_text(model, test, a[6], a[4])
                    item["message"] = message
                    item["trace"] = trace
                retry_attempts.append(item)
            entry["retryAttempts"] = retry_attempts
        tests.append(entry)
    tool_name, tool_version = _TOOLS[model.spec.style]
    report_id = uuid.UUID(
        bytes=hashlib.blake2b(
            f"{ctx.project}/{ctx.seq}/{ctx.service}".encode(), digest_size=16
        ).digest(),
        version=4,
    )
    start = t0 + min((a[5] for a in run.attempts), default=0)
    doc = {
        "reportFormat": "CTRF",
        "specVersion": "1.0.0",
        "reportId": str(report_id),
        "timestamp": _iso(ctx.started + dt.timedelta(milliseconds=run.wall_ms)),
        "results": {
            "tool": {"name": tool_name, "version": tool_version},
            "summary": {
                "tests": len(tests),
                "passed": counts["passed"],
                "failed": counts["failed"],
                "pending": 0,
                "skipped": counts["skipped"],
                "other": 0,
                "flaky": flaky_count,
                "suites": len(classnames),
                "start": start,
                "stop": t0 + run.wall_ms,
                "duration": t0 + run.wall_ms - start,
            },
            "tests": tests,
            "environment": {
                "appName": ctx.service,
                "buildName": ctx.job,
                "buildNumber": int(ctx.build_id),
                "buildUrl": ctx.build_url,
                "branchName": ctx.branch,
                "commit": ctx.commit,
                "osPlatform": "linux",
            },
        },
    }
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")


def render(model: ServiceModel, ctx: RunContext, run: RunOutcome) -> tuple[str, bytes]:
    """(file extension, bytes) of the service's report for this run, gzipped if it says so."""
    spec = model.spec
    if spec.format == "ctrf":
        ext, data = "json", write_ctrf(model, ctx, run)
    elif spec.style == "go":
        ext, data = "xml", write_junit_go(model, ctx, run)
    else:
        ext, data = "xml", write_junit_pytest(model, ctx, run)
    if spec.gzip:
        # mtime=0 keeps the bytes a pure function of the seed.
        return ext + ".gz", gzip.compress(data, compresslevel=5, mtime=0)
    return ext, data
