"""Loading a run's results: parse its stored files and bulk-write tests and results.

The whole load happens in one transaction, so a crash at any point leaves no results behind, and
the run row is locked for its duration (SELECT ... FOR UPDATE SKIP LOCKED), so two workers handed
the same run never load it twice: the second finds the row locked and leaves it to the first.
PostgreSQL gets binary COPY; SQLite (embedded mode) gets bulk_create.

Memory is bounded by the largest single test, not by the file: the stored files are copied to
temporary files in chunks before the load (`staged_files`), result rows stream into COPY in 1 MB
blocks while the parser runs (PostgreSQL ingests one block while Python builds the next: two
processes, two cores), the run's test rows spool to a temporary file, the identity and service
caches are capped, and attempt numbers are settled in SQL after the COPY (`_number_attempts`)
instead of by remembering every test seen.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ingest.identity import TestIds
from ingest.models import Result, Run, RunFile, Service, ServiceRule, Test
from ingest.parsers.records import ParseError, TestRecord
from ingest.partitions import ensure_partition
from ingest.reading import AttemptCounter, iter_records
from ingest.servicemap import Rule, service_for
from ingest.weeks import week_start

log = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "run_id", "test_id", "run_week", "outcome", "attempt", "duration_ms",
    "timeline", "position", "started_at", "message", "output",
)  # fmt: skip
TEST_COLUMNS = (
    "id", "project_id", "service_id", "service_pinned",
    "suite", "classname", "name", "file", "line",
)  # fmt: skip
# The spool's column order: the fields that repeat from test to test first, then name and line.
SPOOL_COLUMNS = ("id", "project_id", "service", "suite", "classname", "file", "name", "line")
_CHUNK = 2**20  # bytes of a stored file read per query when staging it


class LoadError(Exception):
    """A stored file that does not parse (for JUnit the upload checked only its syntax)."""

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
    counts: dict[str, int]  # as run_counts gives them


@dataclass(frozen=True)
class StagedFile:
    index: int
    name: str
    format: str
    path: Path  # the stored gzip content, copied to a temporary file


def start_from_files(run: Run) -> bool:
    """True when the upload gave no start time: ingest.services.run_create leaves `started_at`
    equal to `received_at` then, and the load settles it from the files' earliest test start."""
    return run.started_at == run.received_at


@contextmanager
def staged_files(run: Run) -> Iterator[list[StagedFile]]:
    """The run's stored files, copied to temporary files a chunk at a time (so a large upload
    never sits in memory whole), removed on exit. Call outside the load transaction."""
    with tempfile.TemporaryDirectory(prefix="suitehealth-load-") as tmp:
        staged = []
        table = RunFile._meta.db_table
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT id, {connection.ops.quote_name('index')}, name, format, length(content) "
                f"FROM {table} WHERE run_id = %s ORDER BY 2",
                [run.pk],
            )
            for pk, index, name, fmt, length in cur.fetchall():
                path = Path(tmp) / f"{index}.gz"
                with path.open("wb") as out:
                    for offset in range(1, (length or 0) + 1, _CHUNK):
                        cur.execute(
                            f"SELECT substr(content, %s, %s) FROM {table} WHERE id = %s",
                            [offset, _CHUNK, pk],
                        )
                        out.write(cur.fetchone()[0])
                staged.append(StagedFile(index=index, name=name, format=fmt, path=path))
        yield staged


def load_week(run: Run, files: list[StagedFile]) -> dt.date:
    """The week the results are written to, its partition made sure of (outside the load
    transaction: creating one locks the results table). The run's week, except when the load is
    to settle the start (`start_from_files`): then the week of the first test's start, read
    ahead; should an earlier test start in another week, the load moves the rows (rare)."""
    week = run.week
    if start_from_files(run):
        first = _first_start(files)
        if first is not None:
            week = week_start(first)
    ensure_partition(week)
    return week


def _first_start(files: list[StagedFile]) -> dt.datetime | None:
    for staged in files:
        with staged.path.open("rb") as raw:
            _, records = iter_records(raw, staged.format, limit=settings.SUITEHEALTH_MAX_FILE_BYTES)
            try:
                for record in records:
                    return record.started_at
            except ParseError:
                return None  # the load reports it
    return None


def run_load(run: Run, files: list[StagedFile], week: dt.date) -> LoadSummary:
    """Parse and store all results of `run`, which the caller has locked in a transaction, into
    `week` (from load_week). When the start is the files' to settle, sets `run.started_at` (and
    moves the rows should the earliest start fall in another week); the caller saves the run."""
    rules = [
        Rule(service=r.service.name, pattern=r.pattern)
        for r in ServiceRule.objects.filter(project=run.project_id).select_related("service")
    ]
    sink: _Sink = _CopySink(run, week) if connection.vendor == "postgresql" else _OrmSink(run, week)
    loader = _Loader(run, rules, sink, len(files))
    try:
        for staged in files:
            loader.load_file(staged)
    except BaseException as exc:
        # An open COPY must be ended (CopyFail) before the transaction can roll back.
        sink.abort(exc)
        raise
    # Services are resolved only now: no other query may run on the connection while the
    # results COPY is open (it would wait for the COPY forever).
    counts, new_tests, service_ids = sink.finish(loader.service_names)
    if start_from_files(run) and loader.earliest is not None:
        run.started_at = loader.earliest
        settled = week_start(loader.earliest)
        if settled != week:
            _move_week(run, week, settled)
    run.week = week_start(run.started_at)
    return LoadSummary(
        results=loader.position, tests=counts["tests"], new_tests=new_tests,
        service_ids=service_ids, moved=sink.moved, counts=counts,
    )  # fmt: skip


def _move_week(run: Run, old: dt.date, new: dt.date) -> None:
    """The run's rows to the week its earliest test started in (a run whose first test is not
    its earliest, across a week boundary). The partition is created inside the load
    transaction here, an exception that holds the results table's lock until the commit."""
    ensure_partition(new)
    Result.objects.filter(run_id=run.pk, run_week=old).update(run_week=new)


class _Loader:
    """Streams stored files into a sink, numbering positions and mapping tests to services."""

    SERVICE_CACHE = 10_000

    def __init__(self, run: Run, rules: list[Rule], sink: _Sink, nfiles: int) -> None:
        self.run = run
        self.rules = rules
        self.sink = sink
        self.nfiles = nfiles
        self.test_ids = TestIds(run.project_id)
        self.service_names: set[str] = set()
        self._services: dict[tuple[str, str], str] = {}
        self.position = 0
        self.earliest: dt.datetime | None = None

    def service(self, record: TestRecord) -> str:
        key = (record.file, record.classname)
        name = self._services.get(key)
        if name is None:
            name = service_for(
                upload_service=self.run.service, rules=self.rules, file=record.file,
                classname=record.classname,
            )  # fmt: skip
            if len(self._services) >= self.SERVICE_CACHE:
                self._services.clear()
            self._services[key] = name
            self.service_names.add(name)
        return name

    def load_file(self, staged: StagedFile) -> None:
        default_timeline = f"file {staged.index + 1}"
        prefix = f"file {staged.index + 1}/" if self.nfiles > 1 else ""
        add, test_ids, service = self.sink.add, self.test_ids, self.service
        position, earliest, last_start = self.position, self.earliest, None
        with staged.path.open("rb") as raw:
            _, records = iter_records(raw, staged.format, limit=settings.SUITEHEALTH_MAX_FILE_BYTES)
            try:
                for record in records:
                    timeline = (
                        (prefix + record.timeline)[:100] if record.timeline else default_timeline
                    )
                    add(test_ids(record), service(record), position, timeline, record)
                    position += 1
                    start = record.started_at
                    if start is not None and start is not last_start:
                        last_start = start
                        if earliest is None or start < earliest:
                            earliest = start
            except ParseError as exc:
                raise LoadError(staged.name, exc) from None
        self.position, self.earliest = position, earliest


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

    def add(self, tid: int, service: str, position: int, timeline: str, record: TestRecord) -> None:
        """One record (an attempt) of test `tid`, which belongs in `service` if it is new."""
        ...

    def finish(self, service_names: set[str]) -> tuple[dict[str, int], int, list[int]]:
        """Write the tests; returns (the run's counts as `run_counts` gives them, new tests,
        service ids touched). When the upload names its service, known tests not yet pinned are
        moved there and pinned (`moved`)."""
        ...

    def abort(self, exc: BaseException) -> None: ...


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; some tools write it into captured output.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


# PostgreSQL's binary COPY format: a signature, flags and header extension, then per row the
# field count and each field as length + bytes (-1: NULL), then -1 as the trailer.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_ROW_START = struct.Struct("!hiqiq")  # field count, run_id (int8), test_id (int8)
_INT4 = struct.Struct("!ii")
_INT8 = struct.Struct("!iq")
_LENGTH = struct.Struct("!i")
_NULL = _LENGTH.pack(-1)
_NO_TEXTS = _LENGTH.pack(0) * 2  # message and output of a passed test: empty
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_INT4_MAX = 2**31 - 1
_BLOCK = 1 << 20  # bytes handed to COPY at a time


def _text_field(value: str) -> bytes:
    data = _clean(value).encode("utf-8", "replace")
    return _LENGTH.pack(len(data)) + data


def _timestamptz_field(moment: dt.datetime) -> bytes:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - _PG_EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _INT8.pack(8, micros)


class _CopySink:
    """Streams results into COPY ... FROM STDIN (FORMAT BINARY) while parsing, each row packed
    with precompiled structs and handed over in 1 MB blocks, and spools the run's test rows to a
    temporary file; at the end they are copied into a temporary table and inserted with ON
    CONFLICT DO NOTHING (tests already known are left as they are, except that an upload naming
    its service first moves the known unpinned ones there). Every row is written as attempt 1;
    `_number_attempts` renumbers the repeated tests once the COPY is done."""

    FIELD_CACHE = 10_000
    SPOOL_LINES = 2_000

    def __init__(self, run: Run, week: dt.date) -> None:
        self.run = run
        self.week = week
        self.cursor = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
        self.copy_cm: Any = self.cursor.copy(
            f"COPY ingest_result ({', '.join(RESULT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        )
        self.copy = self.copy_cm.__enter__()
        self.block = bytearray(_COPY_SIGNATURE)
        days = (week - _PG_EPOCH.date()).days
        # run_week, outcome and attempt (1) of a row, by outcome.
        self.middles = {o: struct.pack("!iiihih", 4, days, 2, o, 2, 1) for o in range(4)}
        self.timelines: dict[str, bytes] = {}
        self.last_start: tuple[dt.datetime | None, bytes] = (None, _NULL)
        self.spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n")
        self.spool_prefixes: dict[tuple[str, str, str, str], str] = {}
        self.spool_lines: list[str] = []  # written to the spool SPOOL_LINES at a time
        self.last_tid: int | None = None
        self.outcomes = [0, 0, 0, 0]  # rows by outcome
        self.project_id = run.project_id
        # The upload's `service` field decides every test of the run, and pins it there.
        self.pinned = bool(run.service)
        self.moved: dict[int, int] = {}

    def add(self, tid: int, service: str, position: int, timeline: str, record: TestRecord) -> None:
        if tid != self.last_tid:  # a rerun right after its test is spooled once
            self.last_tid = tid
            self._spool_test(tid, service, record)
        block = self.block
        block += _ROW_START.pack(11, 8, self.run.pk, 8, tid)
        outcome = int(record.outcome)
        self.outcomes[outcome] += 1
        block += self.middles[outcome]
        duration = record.duration_ms
        block += _NULL if duration is None else _INT4.pack(4, min(duration, _INT4_MAX))
        field = self.timelines.get(timeline)
        if field is None:
            if len(self.timelines) >= self.FIELD_CACHE:
                self.timelines.clear()
            field = self.timelines[timeline] = _text_field(timeline)
        block += field
        block += _INT4.pack(4, position)
        start = record.started_at
        if start is None:
            block += _NULL
        else:
            last, field = self.last_start
            if start is not last:
                field = _timestamptz_field(start)
                self.last_start = (start, field)
            block += field
        if outcome:
            block += _text_field(record.message)
            block += _text_field(record.output)
        else:  # output of passing tests is not kept in the table (the raw file is)
            block += _NO_TEXTS
        if len(block) >= _BLOCK:
            self.copy.write(block)
            self.block = bytearray()

    def _spool_test(self, tid: int, service: str, record: TestRecord) -> None:
        key = (service, record.suite, record.classname, record.file)
        prefix = self.spool_prefixes.get(key)
        if prefix is None:
            if len(self.spool_prefixes) >= self.FIELD_CACHE:
                self.spool_prefixes.clear()
            prefix = self.spool_prefixes[key] = "\t".join(
                (str(self.project_id), _copy_text(service), _copy_text(record.suite[:1000]),
                 _copy_text(record.classname[:1000]), _copy_text(record.file[:1000]))
            )  # fmt: skip
        line = "\\N" if record.line is None else str(record.line)
        lines = self.spool_lines
        lines.append(f"{tid}\t{prefix}\t{_copy_text(record.name[:1000])}\t{line}\n")
        if len(lines) >= self.SPOOL_LINES:
            self.spool.write("".join(lines))
            lines.clear()

    def abort(self, exc: BaseException) -> None:
        if self.copy_cm is not None:
            cm, self.copy_cm = self.copy_cm, None
            try:
                cm.__exit__(type(exc), exc, exc.__traceback__)
            except Exception:  # the COPY failing is what we asked for; keep the original error
                pass
        self.spool.close()

    def finish(self, service_names: set[str]) -> tuple[dict[str, int], int, list[int]]:
        self.block += _COPY_TRAILER
        self.copy.write(self.block)
        self.block = bytearray()
        cm, self.copy_cm = self.copy_cm, None
        cm.__exit__(None, None, None)
        counts = _number_attempts(self.cursor, self.run.pk, self.week, self.outcomes)
        services = services_resolve(self.project_id, service_names)
        cur = self.cursor
        cur.execute(
            "CREATE TEMPORARY TABLE _new_tests (id bigint, project_id bigint, service text, "
            "suite text, classname text, file text, name text, line integer) ON COMMIT DROP"
        )
        self.spool.write("".join(self.spool_lines))
        self.spool_lines.clear()
        self.spool.seek(0)
        with cur.copy(f"COPY _new_tests ({', '.join(SPOOL_COLUMNS)}) FROM STDIN") as copy:
            while chunk := self.spool.read(_BLOCK):
                copy.write(chunk)
        self.spool.close()
        if self.pinned:
            # Known tests that rules placed move to the upload's service (the `o` alias reads
            # the row as it was, for the previous service). Pinned tests stay where they are.
            # Their rows are locked in id order first, so two such loads of the same tests
            # (listed in other orders) cannot deadlock.
            cur.execute(
                "SELECT t.id FROM ingest_test t JOIN _new_tests n ON t.id = n.id "
                "WHERE NOT t.service_pinned ORDER BY t.id FOR UPDATE OF t"
            )
            cur.execute(
                "UPDATE ingest_test t SET service_id = s.id, service_pinned = TRUE "
                "FROM _new_tests n, ingest_service s, ingest_test o "
                "WHERE t.id = n.id AND o.id = t.id AND NOT t.service_pinned "
                "AND s.project_id = n.project_id AND s.name = n.service "
                "RETURNING t.id, o.service_id, s.id"
            )
            self.moved = {tid: old for tid, old, new in cur.fetchall() if old != new}
        # A test repeated out of order is in the spool more than once: ON CONFLICT skips it.
        # Inserted by id, so two loads of the same new tests (listed in other orders) take
        # their row locks in one order and cannot deadlock.
        # (An anti-join against known tests measured no faster than ON CONFLICT, once the
        # ANALYZE of the temporary table it needs is counted.)
        cur.execute(
            f"INSERT INTO ingest_test ({', '.join(TEST_COLUMNS)}, first_seen_at) "
            "SELECT n.id, n.project_id, s.id, %s, n.suite, n.classname, n.name, n.file, n.line, %s "
            "FROM _new_tests n JOIN ingest_service s ON s.project_id = n.project_id "
            "AND s.name = n.service ORDER BY n.id ON CONFLICT (id) DO NOTHING",
            [self.pinned, timezone.now()],
        )
        new_tests = cur.rowcount
        # ON COMMIT DROP alone would leave it to a second load in the same transaction.
        cur.execute("DROP TABLE _new_tests")
        return counts, new_tests, sorted(services.values())


def _number_attempts(cur: Any, run_id: int, week: dt.date, outcomes: list[int]) -> dict[str, int]:
    """The n-th row of one test in the run (by position) is attempt n: renumber the rows of the
    tests that appear more than once (all rows were written as attempt 1). Returns the run's
    counts (see run_counts) from `outcomes`, the rows by outcome, corrected by the repeated
    tests' earlier attempts: only the rows of repeated tests are read again."""
    cur.execute(
        "WITH numbered AS ("
        "  SELECT id, test_id, outcome, row_number() OVER w AS n,"
        "         count(*) OVER (PARTITION BY test_id) AS total"
        "  FROM ingest_result WHERE run_id = %(run)s AND run_week = %(week)s AND test_id IN ("
        "    SELECT test_id FROM ingest_result WHERE run_id = %(run)s AND run_week = %(week)s"
        "    GROUP BY test_id HAVING count(*) > 1)"
        "  WINDOW w AS (PARTITION BY test_id ORDER BY position)"
        "), renumbered AS ("
        "  UPDATE ingest_result r SET attempt = numbered.n FROM numbered"
        "  WHERE r.run_week = %(week)s AND r.id = numbered.id AND numbered.n > 1"
        "), tests AS ("
        "  SELECT min(n) FILTER (WHERE outcome IN (1, 2)) AS first_fail,"
        "         max(n) FILTER (WHERE outcome = 0) AS last_pass"
        "  FROM numbered GROUP BY test_id"
        ") SELECT"
        "  (SELECT count(*) FROM tests),"
        "  (SELECT count(*) FROM tests WHERE first_fail < last_pass),"
        "  (SELECT ARRAY[count(*) FILTER (WHERE outcome = 0), count(*) FILTER (WHERE outcome = 1),"
        "          count(*) FILTER (WHERE outcome = 2), count(*) FILTER (WHERE outcome = 3)]"
        "   FROM numbered WHERE n < total)",
        {"run": run_id, "week": week},
    )
    retried, flaky, earlier = cur.fetchone()
    final = [rows - before for rows, before in zip(outcomes, earlier, strict=True)]
    return {
        "tests": sum(final), "results": sum(outcomes), "passed": final[0], "failed": final[1],
        "error": final[2], "skipped": final[3], "retried": retried, "flaky": flaky,
    }  # fmt: skip


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\x00]")


def _copy_text(value: str) -> str:
    """`value` as a field of COPY's text format."""
    if not value or _NEEDS_ESCAPE.search(value) is None:
        return value
    value = _clean(value)
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _int4(value: int | None) -> int | None:
    if value is None:
        return None
    return min(value, _INT4_MAX)


class _OrmSink:
    """Embedded mode: batched bulk_create; fine for the sizes SQLite is used for (it keeps every
    test id of the run in memory to number attempts)."""

    BATCH = 2000

    def __init__(self, run: Run, week: dt.date) -> None:
        self.run = run
        self.week = week
        self.counter = AttemptCounter()
        self.tests: list[Test] = []
        self.results: list[Result] = []
        self.new_tests = 0
        self.services: dict[str, int] = {}
        self.pinned = bool(run.service)
        self.moved: dict[int, int] = {}

    def add(self, tid: int, service: str, position: int, timeline: str, record: TestRecord) -> None:
        attempt = self.counter.next(tid)
        if attempt == 1:
            self._add_test(tid, service, record)
        keep = record.outcome != 0
        self.results.append(
            Result(
                run_id=self.run.pk, test_id=tid, run_week=self.week,
                outcome=int(record.outcome), attempt=attempt, duration_ms=_int4(record.duration_ms),
                timeline=timeline, position=position, started_at=record.started_at,
                message=record.message if keep else "", output=record.output if keep else "",
            )
        )  # fmt: skip
        if len(self.results) >= self.BATCH:
            self._flush_results()

    def _add_test(self, tid: int, service: str, record: TestRecord) -> None:
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

    def finish(self, service_names: set[str]) -> tuple[dict[str, int], int, list[int]]:
        self._flush_tests()
        self._flush_results()
        counts = _run_counts(self.run.pk, self.week)
        return counts, self.new_tests, sorted(self.services[name] for name in service_names)


def run_counts(run: Run) -> dict[str, int]:
    """The run's counts, read from its stored results (see _run_counts)."""
    return _run_counts(run.pk, run.week)


def _run_counts(run_id: int, week: dt.date) -> dict[str, int]:
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
        cur.execute(sql, [run_id, week, run_id, week])
        row = cur.fetchone()
    names = ("tests", "results", "passed", "failed", "error", "skipped", "retried", "flaky")
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


__all__ = [
    "LoadError", "LoadSummary", "StagedFile", "load_week", "run_counts", "run_load",
    "staged_files", "start_from_files",
]  # fmt: skip
