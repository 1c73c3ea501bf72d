"""Weekly RANGE partitions of the results table on PostgreSQL (no-ops elsewhere).

The partition key is `run_week`, the Monday of the run's ISO week (UTC), so one week's rollup
reads one partition and old weeks can be detached or dropped without a bulk DELETE.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

TABLE = "ingest_result"

PARTITIONED_TABLE_SQL = f"""
CREATE SEQUENCE IF NOT EXISTS {TABLE}_id_seq;
CREATE TABLE {TABLE} (
    id bigint NOT NULL DEFAULT nextval('{TABLE}_id_seq'),
    run_id bigint NOT NULL,
    test_id bigint NOT NULL,
    run_week date NOT NULL,
    outcome smallint NOT NULL CHECK (outcome >= 0),
    attempt smallint NOT NULL CHECK (attempt >= 0),
    duration_ms integer NULL,
    timeline varchar(100) NOT NULL,
    position integer NOT NULL,
    started_at timestamp with time zone NULL,
    message text NOT NULL,
    output text NOT NULL,
    -- A partitioned table's unique keys must contain the partition key.
    PRIMARY KEY (id, run_week)
) PARTITION BY RANGE (run_week);
ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id;
CREATE INDEX result_test_history ON {TABLE} (test_id, run_week, run_id);
CREATE INDEX result_run_order ON {TABLE} (run_id, timeline, position);
"""

# Serialises partition creation between workers (an arbitrary constant for pg_advisory_xact_lock).
_LOCK_KEY = 0x5E17E_0001


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def partition_name(week: dt.date) -> str:
    return f"{TABLE}_p{week:%Y%m%d}"


def ensure_partition(week: dt.date) -> bool:
    """Create the partition holding `week` if it is missing. Returns True when it was created.

    Runs in its own short transaction: creating a partition locks the parent table, so it must
    not stay locked for the length of a load.
    """
    if not is_partitioned():
        return False
    if week.weekday() != 0:
        raise ValueError(f"{week} is not a Monday")
    name = partition_name(week)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        # Waiting on an advisory lock leaves this session's catalog cache as it was: a table
        # created meanwhile by the holder would not be seen. A lock on the parent table (which
        # loads' COPY and reads do not conflict with) makes the session catch up first.
        cursor.execute(f"LOCK TABLE {TABLE} IN SHARE UPDATE EXCLUSIVE MODE")
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        end = week + dt.timedelta(days=7)
        cursor.execute(
            f'CREATE TABLE "{name}" PARTITION OF {TABLE} '
            f"FOR VALUES FROM ('{week.isoformat()}') TO ('{end.isoformat()}')"
        )
    return True


def ensure_partitions_ahead(today: dt.date, weeks: int = 4) -> list[dt.date]:
    """Create the partitions of this week and the next `weeks` weeks; returns those created."""
    monday = today - dt.timedelta(days=today.weekday())
    created = []
    for i in range(weeks + 1):
        week = monday + dt.timedelta(days=7 * i)
        if ensure_partition(week):
            created.append(week)
    return created


def partitions() -> list[str]:
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [TABLE],
        )
        return [row[0] for row in cursor.fetchall()]
