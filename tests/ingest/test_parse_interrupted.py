"""A parse whose database connection is cut (a restart, a failover, an administrator's
pg_terminate_backend) is retried without using up the run's parse attempts: those are for
parses that never end, not for trouble on the database's side."""

from __future__ import annotations

import io
import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from ingest.models import Result
from ingest.services import TRANSIENT_DB_ERRORS, UploadMeta, run_create, run_parse
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
def test_cut_connections_do_not_use_up_the_parse_attempts(  # type: ignore[no-untyped-def]
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


@pytest.mark.parametrize(
    ("sqlstate", "theirs"),
    [("40P01", True), ("57P01", True), ("08006", True), ("54000", False), ("53200", False)],
)
def test_only_the_databases_own_trouble_gives_the_attempt_back(  # type: ignore[no-untyped-def]
    transactional_db, served_only, sqlstate, theirs
):
    """A deadlock, a shutdown or a lost connection say nothing about the run; a program limit
    or memory exhausted may come again with it, so those attempts count."""
    from django.db import transaction

    from ingest.services import _not_the_runs_fault

    with pytest.raises(TRANSIENT_DB_ERRORS) as raised, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '{sqlstate}'; END $$")
    assert _not_the_runs_fault(raised.value) is theirs
