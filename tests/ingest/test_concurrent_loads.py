"""Two workers at once on the same new week or the same new tests (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest
from django.db import connection, connections

from ingest.partitions import _LOCK_KEY, ensure_partition, partition_name


@pytest.fixture
def postgres_only(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent loads are PostgreSQL's")


def _exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cur.fetchone()[0]


def test_a_partition_another_process_creates_meanwhile_is_taken_as_it_is(postgres_only):
    """Two workers loading the same new week: the second finds the first's partition, after
    waiting for its lock, instead of failing to create it again."""
    week = dt.date(2031, 3, 3)
    name = partition_name(week)
    assert not _exists(name)
    params = connection.get_connection_params()
    dsn = psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if k in
                                            ("host", "port", "user", "password", "dbname")})  # fmt: skip
    outcome: list[object] = []
    try:
        with psycopg.connect(dsn) as other:  # the other worker, mid-creation
            other.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])

            def second_worker() -> None:
                try:
                    outcome.append(ensure_partition(week))
                except Exception as exc:  # noqa: BLE001 (the test reports it)
                    outcome.append(exc)
                finally:
                    connections.close_all()

            thread = threading.Thread(target=second_worker)
            thread.start()
            time.sleep(1.0)  # it has looked, found nothing, and waits for the lock
            assert thread.is_alive() and not outcome
            other.execute(
                f'CREATE TABLE "{name}" PARTITION OF ingest_result '
                f"FOR VALUES FROM ('{week}') TO ('{week + dt.timedelta(days=7)}')"
            )
            other.commit()
        thread.join(30)
        assert outcome == [False], outcome
    finally:
        with connection.cursor() as cur:
            cur.execute(f'DROP TABLE IF EXISTS "{name}"')


@pytest.mark.parametrize("service", ["", "pinned"])
def test_two_loads_of_the_same_tests_in_opposite_orders_both_finish(postgres_only, service):
    """Two workers loading the same tests at once (two jobs of one build listing them in
    opposite orders): neither deadlocks on the other's test rows, when they insert them new, nor
    when their uploads name a service and so move and pin the tests the rules had placed."""
    import io

    from ingest.models import Result, Run, Test
    from ingest.services import (
        UploadMeta,
        project_create,
        run_create,
        run_parse,
        service_get_or_create,
    )  # fmt: skip
    from tests.resultfiles import junit_xml

    project = project_create(slug="twice")
    # The services exist: creating one would make the second load wait for the first's commit.
    for name in ("default", "pinned"):
        service_get_or_create(project=project, name=name)
    n = 60_000
    forward = junit_xml(n, prefix="t.C")
    head, _, rest = forward.partition(b"<testcase")
    cases = (b"<testcase" + rest).split(b"</testsuite>")[0].split(b"\n")
    cases = [c for c in cases if c.strip()]
    assert len(cases) == n, len(cases)
    backward = head + b"\n".join(reversed(cases)) + b"</testsuite></testsuites>"
    if service:  # the tests are known, placed by the rules: both uploads move them
        run_parse(run_id=run_create(project=project, meta=UploadMeta(commit="c", build_id="a"),
                                    files=[("r.xml", io.BytesIO(forward))]).run.pk)  # fmt: skip
    runs = [
        run_create(
            project=project,
            meta=UploadMeta(commit="c", build_id="b", job=job, service=service),
            files=[("r.xml", io.BytesIO(content))],
        ).run.pk  # fmt: skip
        for job, content in (("one", forward), ("two", backward))
    ]
    errors: list[BaseException] = []

    def load(run_id: int) -> None:
        try:
            run_parse(run_id=run_id)
        except BaseException as exc:  # noqa: BLE001 (the test reports it)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=load, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert list(Run.objects.filter(pk__in=runs).values_list("status", flat=True)) == ["parsed"] * 2
    assert Test.objects.filter(project=project).count() == n
    assert Result.objects.filter(run_id__in=runs).count() == 2 * n
    if service:
        assert Test.objects.filter(project=project, service__name=service,
                                   service_pinned=True).count() == n  # fmt: skip
