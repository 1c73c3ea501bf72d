"""Write operations of the ingest app: projects, tokens, uploads, parsing, sweeping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import logging
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ingest.dberrors import DB_ERRORS, as_transient, not_the_datas_fault
from ingest.errors import IngestError
from ingest.models import IngestToken, Project, Result, Run, RunFile, Service, ServiceRule, Test
from ingest.parsers.records import ParseError
from ingest.parsers.streams import is_gzip, open_bounded
from ingest.queueing import enqueue_on_commit
from ingest.reading import SYNTAX_CHECKED_FORMATS, SyntaxCheck, detect_format, iter_records
from ingest.signals import run_deleted

log = logging.getLogger(__name__)


# ParseError codes that mean "not a format we read" (415) or "too big" (413); the rest are 400.
_STATUS_FOR_CODE = {"unsupported_format": 415, "file_too_large": 413}


# --- Projects and tokens ------------------------------------------------------------------------


def project_create(
    *, slug: str, name: str = "", service_rules: Sequence[tuple[str, str]] = ()
) -> Project:
    """Create a project with its service rules, in order. Raises ValueError if the slug is taken."""
    with transaction.atomic():
        if Project.objects.filter(slug=slug).exists():
            raise ValueError(f"a project with slug {slug!r} already exists")
        project = Project(slug=slug, name=name or slug)
        project.full_clean()
        project.save()
        service_rules_replace(project=project, rules=list(service_rules))
    return project


def service_get_or_create(*, project: Project, name: str) -> Service:
    service, _ = Service.objects.get_or_create(project=project, name=name)
    return service


def service_rules_replace(*, project: Project, rules: list[tuple[str, str]]) -> list[ServiceRule]:
    """Replace the project's rules by (service, glob) pairs, first match wins in the given order.

    Creates the services the rules name. Once the transaction commits, the project's tests that
    no upload pinned are re-mapped to the new rules in the background (tests_remap).
    """
    with transaction.atomic():
        ServiceRule.objects.filter(project=project).delete()
        created = []
        for order, (service_name, pattern) in enumerate(rules):
            service = service_get_or_create(project=project, name=service_name)
            created.append(
                ServiceRule.objects.create(
                    project=project, service=service, pattern=pattern, order=order
                )
            )
        tests_enqueue_remap(project_id=project.pk)
    return created


def tests_enqueue_remap(*, project_id: int) -> None:
    """Queue the re-mapping of the project's tests once the current transaction commits (the
    worker must see the new rules). For every path that changes rules: API, admin, command."""
    from ingest.tasks import remap_services

    transaction.on_commit(lambda: remap_services.delay(project_id))


@dataclass(frozen=True)
class RemapResult:
    examined: int  # tests not pinned by an upload, to which the rules were applied
    moved: int  # tests whose service changed
    service_ids: list[int]  # services the moved tests left or joined
    weeks: list[dt.date]  # Mondays of the run weeks in which the moved tests have results


REMAP_BATCH = 5000


def tests_remap(*, project_id: int, batch_size: int = REMAP_BATCH) -> RemapResult:
    """Put every test of the project that no upload pinned in the service its rules give now
    (ingest.servicemap: the first matching rule, else `default`), then, on commit, send
    `tests_remapped` with the services and run weeks the moved tests touch, so the metrics of
    those service-weeks are recomputed. Nothing moved, nothing sent.

    Tests are read in id order, a batch at a time; the globs are applied in Python and each
    batch's changes are written by one UPDATE ... FROM (VALUES ...), so memory and statement
    count stay bounded on large projects.

    Idempotent: a test already in its service is never written, so running again moves nothing
    and sends nothing. All in one transaction, so a crash changes nothing and the task can run
    again. The project row is locked first, so two remaps of one project run one after the
    other and the later rules win; a test an upload pins meanwhile is skipped by the UPDATE's own
    condition.
    """
    from ingest.servicemap import Rule, service_for

    with transaction.atomic():
        if not Project.objects.select_for_update().filter(pk=project_id).exists():
            return RemapResult(examined=0, moved=0, service_ids=[], weeks=[])
        stored = ServiceRule.objects.filter(project_id=project_id).select_related("service")
        rules = [Rule(service=r.service.name, pattern=r.pattern) for r in stored]
        service_ids = {r.service.name: r.service_id for r in stored}
        moved: dict[int, int] = {}
        joined: set[int] = set()
        examined = 0
        after = -1
        while True:
            batch = list(
                Test.objects.filter(project_id=project_id, service_pinned=False, id__gt=after)
                .order_by("id")
                .values_list("id", "file", "classname", "service_id")[:batch_size]
            )
            if not batch:
                break
            after = batch[-1][0]
            examined += len(batch)
            changes: list[tuple[int, int, int]] = []
            for test_id, file, classname, current in batch:
                name = service_for(upload_service="", rules=rules, file=file, classname=classname)
                if name not in service_ids:  # only `default` can be missing
                    service_ids[name] = Service.objects.get_or_create(
                        project_id=project_id, name=name
                    )[0].pk
                if service_ids[name] != current:
                    changes.append((test_id, service_ids[name], current))
            if changes:
                written = _tests_move(changes)
                for test_id, new, old in changes:
                    if test_id in written:
                        moved[test_id] = old
                        joined.add(new)
        touched = sorted(set(moved.values()) | joined)
        weeks = _tests_moved_announce(project_id=project_id, moved=moved, service_ids=touched)
    if moved:
        log.info("project %s: %d tests moved between services %s", project_id, len(moved), touched)
    return RemapResult(examined=examined, moved=len(moved), service_ids=touched, weeks=weeks)


def _tests_move(changes: list[tuple[int, int, int]]) -> set[int]:
    """Set each (test id, new service id, _) in one statement; returns the ids written. Pinned
    tests and tests already there are left alone."""
    rows = ", ".join(["(CAST(%s AS bigint), CAST(%s AS bigint))"] * len(changes))
    params = [value for test_id, new, _ in changes for value in (test_id, new)]
    # A CTE rather than `FROM (VALUES ...) AS v(id, service_id)`: SQLite (embedded mode) cannot
    # name a subquery's columns, and PostgreSQL plans both the same.
    sql = (
        f"WITH v(id, service_id) AS (VALUES {rows}) "
        "UPDATE ingest_test SET service_id = v.service_id FROM v "
        "WHERE ingest_test.id = v.id AND NOT ingest_test.service_pinned "
        "AND ingest_test.service_id <> v.service_id "
        "RETURNING ingest_test.id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return {row[0] for row in cur.fetchall()}


def _tests_moved_announce(
    *, project_id: int, moved: dict[int, int], service_ids: list[int]
) -> list[dt.date]:
    """The run weeks in which the moved tests have results; `tests_remapped` is sent with them
    once the current transaction commits (nothing is sent when nothing moved)."""
    from ingest.signals import tests_remapped

    if not moved:
        return []
    weeks: set[dt.date] = set()
    ids = sorted(moved)
    for start in range(0, len(ids), 1000):
        # One index range per test on (test, run_week, run); the week list stays tiny.
        weeks.update(
            Result.objects.filter(test_id__in=ids[start : start + 1000])
            .values_list("run_week", flat=True)
            .distinct()
        )
    ordered = sorted(weeks)
    transaction.on_commit(
        lambda: tests_remapped.send(
            sender=Test, project_id=project_id, service_ids=service_ids, weeks=ordered
        )
    )
    return ordered


def token_create(*, project: Project, name: str = "ci") -> tuple[IngestToken, str]:
    """A new ingest key for the project. The key itself is returned once and never stored."""
    key = IngestToken.new_key()
    token = IngestToken.objects.create(
        project=project, name=name, key_hash=IngestToken.hash_key(key), hint=key[:8]
    )
    return token, key


def token_revoke(*, token: IngestToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


# --- Uploads ------------------------------------------------------------------------------------


@dataclass
class UploadMeta:
    commit: str
    branch: str = ""
    build_id: str = ""
    job: str = ""
    build_url: str = ""
    environment: str = ""
    service: str = ""
    started_at: dt.datetime | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> UploadMeta:
        """From the upload form's string fields (as a CI script sends them); others are ignored."""
        names = {f.name for f in dataclasses.fields(cls)} - {"started_at"}
        started = fields.get("started_at")
        return cls(
            **{k: v for k, v in fields.items() if k in names},
            started_at=parse_datetime(started) if started else None,
        )


@dataclass
class _CheckedFile:
    name: str
    format: str
    size: int
    digest: str
    compressed: bytes | None = None
    earliest: dt.datetime | None = None
    # False when only the file's syntax was checked: its records (and their start times) are
    # first read by the parse task.
    parsed: bool = True


@dataclass
class UploadResult:
    run: Run
    created: bool
    files: list[_CheckedFile] = field(default_factory=list)
    # The same upload again (created False): the fields it sent that differ from the stored
    # run's, {name: (stored, sent)}. The stored run is kept as it is.
    ignored: dict[str, tuple[str, str]] = field(default_factory=dict)


# What an upload's identity leaves out (the key is project, build id, job and file digests):
# sent again with other values, they are not applied to the stored run.
_NOT_IN_IDENTITY = ("commit", "branch", "build_url", "environment", "service")


def _ignored_fields(run: Run, meta: UploadMeta) -> dict[str, tuple[str, str]]:
    ignored = {
        name: (getattr(run, name), getattr(meta, name))
        for name in _NOT_IN_IDENTITY
        if getattr(meta, name) and getattr(meta, name) != getattr(run, name)
    }
    if meta.started_at is not None and meta.started_at != run.started_at:
        ignored["started_at"] = (run.started_at.isoformat(), meta.started_at.isoformat())
    return ignored


def run_create(
    *, project: Project, meta: UploadMeta, files: list[tuple[str, BinaryIO]]
) -> UploadResult:
    """Check every file (ingest.reading: JUnit by one syntax pass, the other formats by their
    parser), then store the run and its raw files in one transaction and enqueue parsing on
    commit.

    The run's start is the upload's `started_at`, else the earliest test start of its files when
    they were all parsed here, else it is left equal to `received_at`, which tells the parse task
    to settle it from the files (ingest.loading: `start_from_files`).

    Idempotent: the same (project, build_id, job, file digests) returns the existing run with
    created=False. The unique constraint on (project, idempotency_key) settles concurrent
    duplicates. Raises IngestError for any file that cannot be read; nothing is stored then.
    """
    if not files:
        raise IngestError("no_files", "attach at least one result file as 'file'")
    if len(files) > settings.SUITEHEALTH_MAX_FILES:
        raise IngestError(
            "too_many_files", f"at most {settings.SUITEHEALTH_MAX_FILES} files per upload"
        )
    checked = []
    budget = settings.SUITEHEALTH_MAX_UPLOAD_DECOMPRESSED_BYTES  # all files together
    for name, stream in files:
        limit = min(settings.SUITEHEALTH_MAX_FILE_BYTES, budget)
        try:
            checked.append(_check_file(name, stream, limit=limit))
        except IngestError as exc:
            if exc.code == "file_too_large" and limit < settings.SUITEHEALTH_MAX_FILE_BYTES:
                total = settings.SUITEHEALTH_MAX_UPLOAD_DECOMPRESSED_BYTES
                raise IngestError(
                    "upload_too_large",
                    f"{name}: the upload's files decompress to more than {total:,} bytes",
                    status_code=413,
                    file=name,
                ) from None
            raise
        budget -= checked[-1].size
    # The same content twice in one upload (report.xml and report.xml.gz, a glob matching a
    # copy) is one file: read twice, every test would look retried.
    first_of: dict[str, int] = {}
    for i, c in enumerate(checked):
        first_of.setdefault(c.digest, i)
    if len(first_of) < len(checked):
        keep = sorted(first_of.values())
        files, checked = [files[i] for i in keep], [checked[i] for i in keep]
    key = _idempotency_key(meta, [c.digest for c in checked])

    existing = Run.objects.filter(project=project, idempotency_key=key).first()
    if existing is not None:
        return UploadResult(existing, False, checked, _ignored_fields(existing, meta))

    for (_, stream), check in zip(files, checked, strict=True):
        if check.compressed is None:
            check.compressed = _compressed(stream)
    earliest = [c.earliest for c in checked if c.earliest is not None]
    received_at = timezone.now()
    if meta.started_at is not None:
        started_at = meta.started_at
    elif earliest and all(c.parsed for c in checked):
        started_at = min(earliest)
    else:
        started_at = received_at
    try:
        with transaction.atomic():
            run = Run.objects.create(
                project=project,
                commit=meta.commit,
                branch=meta.branch,
                build_id=meta.build_id,
                job=meta.job,
                build_url=meta.build_url,
                environment=meta.environment,
                service=meta.service,
                started_at=started_at,
                received_at=received_at,
                idempotency_key=key,
            )
            RunFile.objects.bulk_create(
                RunFile(
                    run=run,
                    index=i,
                    name=c.name[:500],
                    format=c.format,
                    size=c.size,
                    digest=c.digest,
                    content=c.compressed,
                )
                for i, c in enumerate(checked)
            )
            run_enqueue_parse(run_id=run.pk)
    except IntegrityError:
        # A concurrent identical upload won the race; answer with its run.
        existing = Run.objects.filter(project=project, idempotency_key=key).first()
        if existing is None:
            raise
        return UploadResult(existing, False, checked, _ignored_fields(existing, meta))
    return UploadResult(run, True, checked)


def runs_parse_again(*, run_ids: list[int]) -> list[int]:
    """Put `failed` runs back to `received` (attempts and error cleared) and queue their parse
    after commit: the stored files are parsed again, after a transient trouble that used up the
    attempts, or with a parser that has learnt to read them. Returns the ids put back; runs in
    another state are left alone, so calling it twice queues nothing more."""
    with transaction.atomic():
        ids = list(
            Run.objects.select_for_update()
            .filter(pk__in=run_ids, status=Run.Status.FAILED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Run.objects.filter(pk__in=ids).update(
            status=Run.Status.RECEIVED, error=None, parse_attempts=0, claimed_at=None
        )
        for run_id in ids:
            run_enqueue_parse(run_id=run_id)
    return ids


def run_enqueue_parse(*, run_id: int) -> None:
    """Queue the parse task once the current transaction commits (never before: the worker
    must see the run)."""
    from ingest.tasks import parse_run

    enqueue_on_commit(parse_run, run_id, swept_by="ingest.sweep_stuck_runs")


def _check_file(name: str, stream: BinaryIO, *, limit: int) -> _CheckedFile:
    """Check one file of at most `limit` decompressed bytes (see ingest.reading for how much
    each format's check reads): a file that passes here loads in the worker. Returns format,
    size, digest, and for fully parsed files the earliest start time seen."""
    try:
        fmt = detect_format(stream, limit=limit)
        if fmt in SYNTAX_CHECKED_FORMATS:
            return _syntax_checked(name, fmt, stream, limit)
        reader, records = iter_records(stream, fmt, limit=limit, digest=True)
        earliest = None
        for record in records:
            if record.started_at is not None and (earliest is None or record.started_at < earliest):
                earliest = record.started_at
        # Drain what the parser did not need to read, so size and digest cover the whole file.
        while reader.read(1 << 20):
            pass
    except ParseError as exc:
        raise IngestError(
            exc.code,
            f"{name}: {exc.detail}",
            status_code=_STATUS_FOR_CODE.get(exc.code, 400),
            **{"file": name, **{k: v for k, v in exc.as_dict().items() if k in ("line", "column")}},
        ) from None
    finally:
        stream.seek(0)
    return _CheckedFile(
        name=name, format=fmt, size=reader.bytes_read, digest=reader.hexdigest(), earliest=earliest
    )


def _syntax_checked(name: str, fmt: str, stream: BinaryIO, limit: int) -> _CheckedFile:
    """One pass over the decompressed bytes: syntax check, size, digest and, for a file not sent
    gzipped, its gzip copy (level 1: an archive copy for re-parsing, speed matters more than the
    last few percent)."""
    gzipped = is_gzip(stream)
    reader = open_bounded(stream, limit=limit, digest=True)
    check = SyntaxCheck()
    compressor = None if gzipped else zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip framing
    with tempfile.SpooledTemporaryFile(max_size=64 * 2**20) as spool:
        while chunk := reader.read(1 << 20):
            check.feed(chunk)
            if compressor is not None:
                spool.write(compressor.compress(chunk))
        check.close()
        compressed = None
        if compressor is not None:
            spool.write(compressor.flush())
            spool.seek(0)
            compressed = spool.read()
    return _CheckedFile(
        name=name, format=fmt, size=reader.bytes_read, digest=reader.hexdigest(),
        compressed=compressed, parsed=False,
    )  # fmt: skip


def _compressed(stream: BinaryIO) -> bytes:
    """The file as gzip bytes: kept as sent when already gzip, else compressed (level 1: the raw
    file is an archive copy for re-parsing, speed matters more than the last few percent)."""
    stream.seek(0)
    if is_gzip(stream):
        return stream.read()
    with tempfile.SpooledTemporaryFile(max_size=64 * 2**20) as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb", compresslevel=1, mtime=0) as gz:
            shutil.copyfileobj(stream, gz, 1 << 20)
        spool.seek(0)
        return spool.read()


def _idempotency_key(meta: UploadMeta, digests: list[str]) -> str:
    """What makes two uploads the same (DESIGN.md): project, build id, job and the digests of the
    decompressed files. Without a build id the commit stands in for the build, so identical
    files from two commits (a report that does not change) stay two runs. Migration 0007 wrote
    the stored keys this way."""
    build = [meta.build_id] if meta.build_id else ["", meta.commit]
    parts = [*build, meta.job, *sorted(digests)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# --- Parsing ------------------------------------------------------------------------------------


def run_parse(*, run_id: int) -> None:
    """Load a received run's results, exactly once.

    Safe to run twice or concurrently: a compare-and-set moves the run to `parsing`, then the load
    runs in one transaction holding the run's row lock (SKIP LOCKED: a second worker leaves it to
    the first). A killed worker's transaction rolls back, leaving the run in `parsing` for the
    sweeper to hand out again. Data errors mark the run `failed` and are not retried.
    """
    from django.db.models import F

    claimed = Run.objects.filter(
        pk=run_id, status__in=[Run.Status.RECEIVED, Run.Status.PARSING]
    ).update(
        status=Run.Status.PARSING,
        claimed_at=timezone.now(),
        parse_attempts=F("parse_attempts") + 1,
    )
    if not claimed:
        log.info("run %s: nothing to parse (gone, parsed or failed)", run_id)
        return
    run = Run.objects.get(pk=run_id)
    if run.parse_attempts > settings.SUITEHEALTH_MAX_PARSE_ATTEMPTS:
        Run.objects.filter(pk=run_id, status=Run.Status.PARSING).update(
            status=Run.Status.FAILED,
            error={
                "error": "gave_up",
                "detail": f"parsing did not finish in {run.parse_attempts - 1} attempts",
            },
        )
        return
    try:
        _parse_claimed(run)
    except DB_ERRORS as exc:
        if not not_the_datas_fault(exc):
            raise
        _attempt_give_back(run_id)
        raise as_transient(exc)  # noqa: B904 (as_transient sets the cause: the driver's error)


def _attempt_give_back(run_id: int) -> None:
    """An attempt ended by trouble on the database's side (a dropped connection, a deadlock, a
    restart) is not counted: the task retries it, and the attempts limit is for parses that
    never end (a worker killed by the run's size, say) or fail the same way each time. Best
    effort: a database still away keeps the count."""
    from django.db import DatabaseError
    from django.db.models import F

    connection.close_if_unusable_or_obsolete()
    try:
        Run.objects.filter(pk=run_id, status=Run.Status.PARSING, parse_attempts__gt=0).update(
            parse_attempts=F("parse_attempts") - 1
        )
    except DatabaseError as exc:
        log.warning("run %s: could not give back the attempt: %s", run_id, exc)


def _parse_claimed(run: Run) -> None:
    from ingest.loading import LoadError, load_week, run_load, staged_files
    from ingest.signals import run_parsed

    run_id = run.pk
    # The stored files go to temporary files and the week's partition is made sure of before
    # the transaction: neither may hold locks or memory for the length of the load.
    with staged_files(run) as files:
        week = load_week(run, files)
        try:
            with transaction.atomic():
                locked = (
                    Run.objects.select_for_update(skip_locked=True)
                    .filter(pk=run_id, status=Run.Status.PARSING)
                    .first()
                )
                if locked is None:
                    log.info("run %s: another worker holds it", run_id)
                    return
                summary = run_load(locked, files, week)
                # Tests the upload's `service` field moved take their history with them.
                _tests_moved_announce(
                    project_id=locked.project_id,
                    moved=summary.moved,
                    service_ids=sorted(set(summary.moved.values()) | set(summary.service_ids)),
                )
                locked.counts = summary.counts
                locked.status = Run.Status.PARSED
                locked.parsed_at = timezone.now()
                locked.error = None
                fields = ["counts", "status", "parsed_at", "error", "started_at", "week"]
                locked.save(update_fields=fields)
                # Inside the transaction: what receivers record (service-weeks now stale)
                # commits with the results, so no reader ever sees the run parsed but its
                # metrics current.
                run_parsed.send(
                    sender=Run,
                    run_id=run_id,
                    project_id=locked.project_id,
                    week=locked.week,
                    service_ids=summary.service_ids,
                    commit=locked.commit,
                    started_at=locked.started_at,
                )
        except LoadError as exc:
            Run.objects.filter(pk=run_id).update(status=Run.Status.FAILED, error=exc.as_dict())
            log.warning("run %s failed to parse: %s", run_id, exc)
            return
    log.info(
        "run %s parsed: %s results, %s tests (%s new)",
        run_id, summary.results, summary.tests, summary.new_tests,
    )  # fmt: skip


# --- Deleting -----------------------------------------------------------------------------------


def run_delete(*, run_id: int) -> int | None:
    """Delete a run with its results and stored files (what was derived from it goes with it:
    run facts by cascade, findings keep their row without the run). The services it had results
    in are marked stale through `run_deleted`, so their metrics are computed again without it.
    A load in progress holds the run's row lock: the delete waits for it and then removes what it
    wrote. Returns the results deleted, None when the run is already gone."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return None
        results = Result.objects.filter(run_id=run_id)
        service_ids = sorted(
            set(
                Test.objects.filter(pk__in=results.values("test_id")).values_list(
                    "service_id", flat=True
                )
            )
        )
        deleted, _ = results.delete()
        run.delete()
        if service_ids:
            run_deleted.send(
                sender=Run, run_id=run_id, project_id=run.project_id, week=run.week,
                service_ids=service_ids, commit=run.commit, started_at=run.started_at,
            )  # fmt: skip
    log.info("run %s deleted with its %s results", run_id, deleted)
    return deleted


def project_delete(*, project_id: int) -> int | None:
    """Delete a project and everything in it: its runs' results (which no cascade reaches: the
    results table has no foreign keys), runs, tests, services, tokens, and by cascade what
    reports derived. Loads in progress finish first (their runs' row locks). Returns the
    results deleted, None when the project is already gone."""
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(pk=project_id).first()
        if project is None:
            return None
        runs = Run.objects.filter(project_id=project_id)
        locked = len(runs.select_for_update().values_list("pk", flat=True))
        deleted, _ = Result.objects.filter(run_id__in=runs.values("pk")).delete()
        # Tests first: they protect their services, which the project's cascade deletes.
        _tests_delete(project_id)
        project.delete()
    log.info("project %s deleted with %s runs and %s results", project_id, locked, deleted)
    return deleted


def _tests_delete(project_id: int) -> None:
    """The project's tests in one DELETE, after the rows of other apps that refer to them (each
    by its own cascade). Django's collector would load every test first: for a project of a
    million tests that took 139 s and 2.3 GB in one request."""
    from django.db import models

    tests = Test.objects.filter(project_id=project_id)
    relations = [
        f for f in Test._meta.get_fields(include_hidden=True)
        if isinstance(f, models.ForeignObjectRel)  # the reverse side of a relation to Test
        and f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
        and f.on_delete is not models.DO_NOTHING
    ]  # fmt: skip
    if any(r.on_delete is not models.CASCADE for r in relations):
        tests.delete()  # PROTECT or SET_NULL: the collector knows what to do
        return
    for relation in relations:
        referring = relation.related_model._base_manager.filter(
            **{f"{relation.field.name}__in": tests.values("pk")}
        )
        referring.delete()
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {Test._meta.db_table} WHERE project_id = %s", [project_id])


def runs_sweep_stuck(*, older_than_seconds: int | None = None, limit: int = 100) -> list[int]:
    """Re-enqueue runs stuck in `received` or `parsing` (a lost message, a killed worker).
    Capped per call; the next sweep takes the rest. Returns the run ids re-enqueued."""
    from django.db.models import Q

    from ingest.tasks import parse_run

    age = (
        settings.SUITEHEALTH_STUCK_AFTER_SECONDS
        if older_than_seconds is None
        else older_than_seconds
    )
    cutoff = timezone.now() - dt.timedelta(seconds=age)
    stuck = list(
        Run.objects.filter(
            Q(status=Run.Status.RECEIVED, received_at__lte=cutoff, claimed_at__isnull=True)
            | Q(status__in=[Run.Status.RECEIVED, Run.Status.PARSING], claimed_at__lte=cutoff)
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    for run_id in stuck:
        parse_run.delay(run_id)
    if stuck:
        log.warning("re-enqueued %d stuck runs: %s", len(stuck), stuck)
    return stuck
