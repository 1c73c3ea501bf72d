"""A parse whose database connection is cut (a restart, a failover, an administrator's
pg_terminate_backend) is retried without using up the run's parse attempts: those are for
parses that never end, not for trouble on the database's side."""

from __future__ import annotations

import io
import sqlite3
import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from ingest.dberrors import (
    TRANSIENT_DB_ERRORS,
    connection_lost,
    not_the_datas_fault,
    sqlite_busy,
)
from ingest.models import Result
from ingest.services import UploadMeta, run_create, run_parse
from ingest.signals import run_parsed
from tests.resultfiles import junit_xml


def _dsn() -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


def _cut_when_waiting(admin: psycopg.Connection, done: threading.Event) -> None:
    """Terminate the backend that waits on the lock the admin connection holds."""
    with psycopg.connect(_dsn(), autocommit=True) as watcher:
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s",
                [admin.info.backend_pid],
            ).fetchone()
            if row:
                watcher.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                return
            time.sleep(0.05)


@pytest.mark.timeout(120)
def test_cut_connections_do_not_use_up_the_parse_attempts(
    transactional_db, served_only, project, django_capture_on_commit_callbacks
):
    meta = UploadMeta(commit="d" * 40, branch="main", build_id="9", job="unit")
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(
            project=project, meta=meta, files=[("a.xml", io.BytesIO(junit_xml(30)))]
        ).run

    cuts = settings.SUITEHEALTH_MAX_PARSE_ATTEMPTS + 2
    with psycopg.connect(_dsn()) as admin:
        for _ in range(cuts):
            # The load waits on the tests table the admin holds, and is cut while it waits.
            admin.execute("LOCK TABLE ingest_test IN ACCESS EXCLUSIVE MODE")
            done = threading.Event()
            cutter = threading.Thread(target=_cut_when_waiting, args=(admin, done))
            cutter.start()
            try:
                with pytest.raises(TRANSIENT_DB_ERRORS):
                    run_parse(run_id=run.pk)
            finally:
                done.set()
                admin.rollback()
                cutter.join()
            connection.close()  # as a worker's next task would find it
            run.refresh_from_db()
            assert (run.status, run.parse_attempts) == ("parsing", 0)

    run_parse(run_id=run.pk)  # the retry once the database answers again
    run.refresh_from_db()
    assert (run.status, run.parse_attempts) == ("parsed", 1)
    assert Result.objects.filter(run=run).count() == 30


def _stall(**kwargs: object) -> None:
    """A run_parsed receiver that keeps the load's transaction open, idle, for a while."""
    time.sleep(0.6)


@pytest.mark.timeout(60)
def test_an_idle_in_transaction_timeout_does_not_use_up_a_parse_attempt(
    transactional_db, served_only, project, django_capture_on_commit_callbacks
):
    """A server with idle_in_transaction_session_timeout ends the session of a load that stalls
    (SQLSTATE 25P03, which psycopg reports as an InternalError): the task retries it and the
    attempt is given back, as for any other connection the server cut."""
    meta = UploadMeta(commit="e" * 40, branch="main", build_id="10", job="unit")
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(
            project=project, meta=meta, files=[("a.xml", io.BytesIO(junit_xml(30)))]
        ).run

    with connection.cursor() as cursor:
        cursor.execute("SET idle_in_transaction_session_timeout = '200ms'")
    run_parsed.connect(_stall, dispatch_uid="tests.stall")
    try:
        with pytest.raises(TRANSIENT_DB_ERRORS) as raised:
            run_parse(run_id=run.pk)
    finally:
        run_parsed.disconnect(dispatch_uid="tests.stall")
    assert connection_lost(raised.value)
    connection.close()  # as a worker's next task would find it
    run.refresh_from_db()
    assert (run.status, run.parse_attempts) == ("parsing", 0)

    run_parse(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.parse_attempts) == ("parsed", 1)
    assert Result.objects.filter(run=run).count() == 30


def test_a_session_ended_by_an_idle_in_transaction_timeout_is_a_lost_connection(
    transactional_db, served_only
):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout = '100ms'")
            time.sleep(0.5)
            cursor.execute("SELECT 1")
    connection.close()
    assert getattr(raised.value.__cause__, "sqlstate", None) == "25P03"
    assert connection_lost(raised.value) and not_the_datas_fault(raised.value)


@pytest.mark.parametrize(
    ("sqlstate", "lost", "theirs"),
    [
        ("57P01", True, True),  # pg_terminate_backend
        ("08006", True, True),  # connection failure
        ("57P05", True, True),  # idle-session timeout
        ("40P01", False, True),  # deadlock: rolled back, try again
        ("57014", False, False),  # query cancelled (a statement timeout): may come again
        ("54000", False, False),  # program limit exceeded
        ("53200", False, False),  # out of memory
    ],
)
def test_only_the_databases_own_trouble_gives_the_attempt_back(
    transactional_db, served_only, sqlstate, lost, theirs
):
    """A shutdown, a lost connection or a deadlock say nothing about the run; a cancelled
    statement, a program limit or memory exhausted may come again with it, so those attempts
    count. Only a lost connection is answered 503 by the web process."""
    from django.db import transaction

    with pytest.raises(TRANSIENT_DB_ERRORS) as raised, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '{sqlstate}'; END $$")
    assert (connection_lost(raised.value), not_the_datas_fault(raised.value)) == (lost, theirs)


def test_sqlite_gives_the_attempt_back_only_when_its_file_is_busy(tmp_path) -> None:
    path = tmp_path / "db.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked") as busy:
        other.execute("SELECT * FROM t")
    with pytest.raises(sqlite3.OperationalError, match="no such table") as missing:
        sqlite3.connect(":memory:").execute("SELECT * FROM nope")
    holder.execute("ROLLBACK")
    assert not_the_datas_fault(busy.value) and sqlite_busy(busy.value)
    assert not connection_lost(busy.value)
    assert not not_the_datas_fault(missing.value)
