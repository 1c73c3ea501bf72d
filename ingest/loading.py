"""Loading a run's results: parse its stored files and bulk-write tests and results.

The whole load happens in one transaction, so a crash at any point leaves no results behind, and
the run row is locked for its duration (SELECT ... FOR UPDATE SKIP LOCKED), so two workers handed
the same run never load it twice: the second finds the row locked and leaves it to the first.
PostgreSQL gets binary COPY; SQLite (embedded mode) gets bulk_create.
"""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ingest.identity import identity, test_id
from ingest.models import Result, Run, RunFile, Service, ServiceRule, Test
from ingest.parsers.records import ParseError, TestRecord
from ingest.partitions import ensure_partition
from ingest.reading import AttemptCounter, iter_records
from ingest.servicemap import Rule, service_for

log = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "run_id", "test_id", "run_week", "outcome", "attempt", "duration_ms",
    "timeline", "position", "started_at", "message", "output",
)  # fmt: skip
TEST_COLUMNS = (
    "id", "project_id", "service_id", "service_pinned",
    "suite", "classname", "name", "file", "line",
)  # fmt: skip
SPOOL_COLUMNS = ("id", "project_id", "service", "suite", "classname", "name", "file", "line")


class LoadError(Exception):
    """A stored file that no longer parses (the upload check should have caught it)."""

    def __init__(self, file: str, error: ParseError) -> None:
        super().__init__(f"{file}: {error}")
        self.file = file
        self.error = error

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, **self.error.as_dict()}


@dataclass
class LoadSummary:
    results: int
    tests: int
    new_tests: int
    service_ids: list[int]
    # Known tests an upload naming its service moved there: test id -> previous service id.
    moved: dict[int, int]


def run_load(run: Run) -> LoadSummary:
    """Parse and store all results of `run`, which the caller has locked in a transaction."""
    rules = [
        Rule(service=r.service.name, pattern=r.pattern)
        for r in ServiceRule.objects.filter(project=run.project_id).select_related("service")
    ]
    # Read everything the load needs before the COPY opens: while a COPY is in progress no other
    # query can run on the connection. The files are gzip-compressed, so this stays small.
    files = list(RunFile.objects.filter(run=run).order_by("index"))
    sink: _Sink = _CopySink(run) if connection.vendor == "postgresql" else _OrmSink(run)
    counter = AttemptCounter()
    service_names: set[str] = set()
    position = 0
    try:
        for runfile in files:
            position = _load_file(run, runfile, len(files), rules, sink, counter, service_names, position)
    except BaseException as exc:
        # An open COPY must be ended (CopyFail) before the transaction can roll back.
        sink.abort(exc)
        raise
    # Services are resolved only now: no other query may run on the connection while the
    # results COPY is open (it would wait for the COPY forever).
    new_tests, service_ids = sink.finish(service_names)
    return LoadSummary(
        results=position, tests=len(counter), new_tests=new_tests, service_ids=service_ids,
        moved=sink.moved,
    )  # fmt: skip


def _load_file(
    run: Run,
    runfile: RunFile,
    nfiles: int,
    rules: list[Rule],
    sink: _Sink,
    counter: AttemptCounter,
    service_names: set[str],
    position: int,
) -> int:
    """Stream one stored file into the sink; returns the next position."""
    raw = io.BytesIO(bytes(runfile.content))
    default_timeline = f"file {runfile.index + 1}"
    prefix = f"file {runfile.index + 1}/" if nfiles > 1 else ""
    _, records = iter_records(raw, runfile.format, limit=settings.SUITEHEALTH_MAX_FILE_BYTES)
    try:
        for record in records:
            tid = test_id(run.project_id, identity(record))
            attempt = counter.next(tid)
            if attempt == 1:
                name = service_for(
                    upload_service=run.service, rules=rules, file=record.file,
                    classname=record.classname,
                )  # fmt: skip
                service_names.add(name)
                sink.add_test(tid, name, record)
            timeline = (prefix + record.timeline) if record.timeline else default_timeline
            sink.add_result(tid, attempt, position, timeline[:100], record)
            position += 1
    except ParseError as exc:
        raise LoadError(runfile.name, exc) from None
    return position


def services_resolve(project_id: int, names: set[str]) -> dict[str, int]:
    """Service ids by name, creating the missing services."""
    found = dict(
        Service.objects.filter(project_id=project_id, name__in=names).values_list("name", "pk")
    )
    for name in sorted(names - found.keys()):
        found[name] = Service.objects.get_or_create(project_id=project_id, name=name)[0].pk
    return found


class _Sink(Protocol):
    moved: dict[int, int]

    def add_test(self, tid: int, service: str, record: TestRecord) -> None: ...
    def add_result(
        self, tid: int, attempt: int, position: int, timeline: str, record: TestRecord
    ) -> None: ...
    def finish(self, service_names: set[str]) -> tuple[int, list[int]]:
        """Write the tests; returns (new tests, service ids touched). When the upload names its
        service, known tests not yet pinned are moved there and pinned (`moved`)."""
        ...

    def abort(self, exc: BaseException) -> None: ...


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; some tools write it into captured output.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class _CopySink:
    """Streams results straight into COPY ... FROM STDIN (FORMAT BINARY) while parsing, and
    spools the run's test rows to a temporary file; at the end they are copied into a temporary
    table and inserted with ON CONFLICT DO NOTHING (tests already known are left as they are,
    except that an upload naming its service first moves the known unpinned ones there)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.week = run.week
        self.cursor = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
        self.copy_cm: Any = self.cursor.copy(
            f"COPY ingest_result ({', '.join(RESULT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        )
        self.copy = self.copy_cm.__enter__()
        self.copy.set_types(
            ["int8", "int8", "date", "int2", "int2", "int4", "text", "int4", "timestamptz", "text", "text"]
        )
        self.spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n")
        self.project_id = run.project_id
        # The upload's `service` field decides every test of the run, and pins it there.
        self.pinned = bool(run.service)
        self.moved: dict[int, int] = {}

    def add_test(self, tid: int, service: str, record: TestRecord) -> None:
        fields = (
            str(tid), str(self.project_id), _copy_text(service),
            _copy_text(record.suite[:1000]), _copy_text(record.classname[:1000]),
            _copy_text(record.name[:1000]), _copy_text(record.file[:1000]),
            "\\N" if record.line is None else str(record.line),
        )  # fmt: skip
        self.spool.write("\t".join(fields) + "\n")

    def add_result(
        self, tid: int, attempt: int, position: int, timeline: str, record: TestRecord
    ) -> None:
        failed_or_skipped = record.outcome != 0
        self.copy.write_row(
            (
                self.run.pk, tid, self.week, int(record.outcome), attempt,
                _int4(record.duration_ms), timeline, position, record.started_at,
                _clean(record.message) if failed_or_skipped else "",
                # Output of passing tests is not kept in the table (the raw file is).
                _clean(record.output) if failed_or_skipped else "",
            )
        )  # fmt: skip

    def abort(self, exc: BaseException) -> None:
        if self.copy_cm is not None:
            cm, self.copy_cm = self.copy_cm, None
            try:
                cm.__exit__(type(exc), exc, exc.__traceback__)
            except Exception:  # the COPY failing is what we asked for; keep the original error
                pass
        self.spool.close()

    def finish(self, service_names: set[str]) -> tuple[int, list[int]]:
        cm, self.copy_cm = self.copy_cm, None
        cm.__exit__(None, None, None)
        services = services_resolve(self.project_id, service_names)
        cur = self.cursor
        cur.execute(
            "CREATE TEMPORARY TABLE _new_tests (id bigint, project_id bigint, service text, "
            "suite text, classname text, name text, file text, line integer) ON COMMIT DROP"
        )
        self.spool.seek(0)
        with cur.copy(f"COPY _new_tests ({', '.join(SPOOL_COLUMNS)}) FROM STDIN") as copy:
            while chunk := self.spool.read(1 << 20):
                copy.write(chunk)
        self.spool.close()
        if self.pinned:
            # Known tests that rules placed move to the upload's service (the `o` alias reads
            # the row as it was, for the previous service). Pinned tests stay where they are.
            cur.execute(
                "UPDATE ingest_test t SET service_id = s.id, service_pinned = TRUE "
                "FROM _new_tests n, ingest_service s, ingest_test o "
                "WHERE t.id = n.id AND o.id = t.id AND NOT t.service_pinned "
                "AND s.project_id = n.project_id AND s.name = n.service "
                "RETURNING t.id, o.service_id, s.id"
            )
            self.moved = {tid: old for tid, old, new in cur.fetchall() if old != new}
        cur.execute(
            f"INSERT INTO ingest_test ({', '.join(TEST_COLUMNS)}, first_seen_at) "
            "SELECT n.id, n.project_id, s.id, %s, n.suite, n.classname, n.name, n.file, n.line, %s "
            "FROM _new_tests n JOIN ingest_service s ON s.project_id = n.project_id "
            "AND s.name = n.service ON CONFLICT (id) DO NOTHING",
            [self.pinned, timezone.now()],
        )
        new_tests = cur.rowcount
        # ON COMMIT DROP alone would leave it to a second load in the same transaction.
        cur.execute("DROP TABLE _new_tests")
        return new_tests, sorted(services.values())


def _copy_text(value: str) -> str:
    if not value:
        return ""
    value = _clean(value)
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _int4(value: int | None) -> int | None:
    if value is None:
        return None
    return min(value, 2**31 - 1)


class _OrmSink:
    """Embedded mode: batched bulk_create; fine for the sizes SQLite is used for."""

    BATCH = 2000

    def __init__(self, run: Run) -> None:
        self.run = run
        self.tests: list[Test] = []
        self.results: list[Result] = []
        self.new_tests = 0
        self.services: dict[str, int] = {}
        self.pinned = bool(run.service)
        self.moved: dict[int, int] = {}

    def add_test(self, tid: int, service: str, record: TestRecord) -> None:
        if service not in self.services:
            self.services.update(services_resolve(self.run.project_id, {service}))
        self.tests.append(
            Test(
                id=tid, project_id=self.run.project_id, service_id=self.services[service],
                service_pinned=self.pinned,
                suite=record.suite[:1000], classname=record.classname[:1000],
                name=record.name[:1000], file=record.file[:1000], line=record.line,
            )
        )  # fmt: skip
        if len(self.tests) >= self.BATCH:
            self._flush_tests()

    def add_result(
        self, tid: int, attempt: int, position: int, timeline: str, record: TestRecord
    ) -> None:
        keep = record.outcome != 0
        self.results.append(
            Result(
                run_id=self.run.pk, test_id=tid, run_week=self.run.week,
                outcome=int(record.outcome), attempt=attempt, duration_ms=_int4(record.duration_ms),
                timeline=timeline, position=position, started_at=record.started_at,
                message=record.message if keep else "", output=record.output if keep else "",
            )
        )  # fmt: skip
        if len(self.results) >= self.BATCH:
            self._flush_results()

    def _flush_tests(self) -> None:
        ids = [t.id for t in self.tests]
        known = set(Test.objects.filter(id__in=ids).values_list("id", flat=True))
        if self.pinned and known:
            # As in the COPY sink: known tests that rules placed move to the upload's service.
            service_id = self.tests[0].service_id
            unpinned = Test.objects.filter(id__in=known, service_pinned=False)
            moving = unpinned.exclude(service_id=service_id).values_list("id", "service_id")
            self.moved.update(moving)
            unpinned.update(service_id=service_id, service_pinned=True)
        fresh = [t for t in self.tests if t.id not in known]
        Test.objects.bulk_create(fresh, ignore_conflicts=True)
        self.new_tests += len(fresh)
        self.tests = []

    def _flush_results(self) -> None:
        Result.objects.bulk_create(self.results)
        self.results = []

    def abort(self, exc: BaseException) -> None:
        self.tests, self.results = [], []

    def finish(self, service_names: set[str]) -> tuple[int, list[int]]:
        self._flush_tests()
        self._flush_results()
        return self.new_tests, sorted(self.services[name] for name in service_names)


def run_counts(run: Run) -> dict[str, int]:
    """Counts by outcome: `passed`/`failed`/`error`/`skipped` count tests by their final attempt;
    `tests` distinct tests, `results` rows (attempts), `retried` tests with more than one attempt,
    `flaky` tests that failed and then passed within the run."""
    sql = """
        SELECT count(*), sum(t.n),
               sum(CASE WHEN r.outcome = 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN r.outcome = 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN r.outcome = 2 THEN 1 ELSE 0 END),
               sum(CASE WHEN r.outcome = 3 THEN 1 ELSE 0 END),
               sum(CASE WHEN t.n > 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN t.first_fail < t.last_pass THEN 1 ELSE 0 END)
        FROM (
            SELECT test_id, count(*) AS n, max(attempt) AS last_attempt,
                   min(CASE WHEN outcome IN (1, 2) THEN attempt END) AS first_fail,
                   max(CASE WHEN outcome = 0 THEN attempt END) AS last_pass
            FROM ingest_result WHERE run_id = %s AND run_week = %s GROUP BY test_id
        ) t
        JOIN ingest_result r
          ON r.run_id = %s AND r.run_week = %s AND r.test_id = t.test_id
         AND r.attempt = t.last_attempt
    """
    with connection.cursor() as cur:
        cur.execute(sql, [run.pk, run.week, run.pk, run.week])
        row = cur.fetchone()
    names = ("tests", "results", "passed", "failed", "error", "skipped", "retried", "flaky")
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


def prepare_storage(run: Run) -> None:
    """Things that must exist before the load transaction: the week's partition."""
    ensure_partition(run.week)


__all__ = ["LoadError", "LoadSummary", "prepare_storage", "run_counts", "run_load"]
