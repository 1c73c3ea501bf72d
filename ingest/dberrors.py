"""Which database errors are the database's own trouble, not the request's or the data's.

Django wraps the driver's errors (psycopg, sqlite3) and keeps the original as `__cause__`; the
original carries the SQLSTATE (PostgreSQL) or the result code (SQLite) read here.
"""

from __future__ import annotations

import sqlite3

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError

# What a task retries: a database unreachable or interrupted, for now. The bulk load talks to
# psycopg directly, so its errors come unwrapped.
TRANSIENT_DB_ERRORS = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)

# Every database error: as Django wraps the driver's, and as the bulk load gets psycopg's.
DB_ERRORS = (DatabaseError, psycopg.Error)

# Connection exceptions (08xxx) and the server ending the session: admin shutdown
# (pg_terminate_backend), crash shutdown, cannot connect now (starting up or in recovery), the
# database dropped, an idle-session timeout, an idle-in-transaction timeout (25P03, which
# psycopg raises as an InternalError by its class, 25: invalid transaction state). Not the
# transaction timeout (25P04, PostgreSQL 17), which ends the session too: like a statement
# timeout it may come again with the same data, so an attempt it cuts short counts.
_CONNECTION_STATES = ("57P01", "57P02", "57P03", "57P04", "57P05", "25P03")
# A transaction rolled back by the server (serialization failure, deadlock): try it again.
_ROLLBACK_STATES = ("40001", "40P01")
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _driver_error(exc: BaseException) -> BaseException:
    cause = exc.__cause__
    return cause if isinstance(cause, psycopg.Error | sqlite3.Error) else exc


def connection_lost(exc: BaseException) -> bool:
    """The database could not be reached or the connection was cut: nothing the request did."""
    error = _driver_error(exc)
    if isinstance(error, psycopg.Error):
        sqlstate = error.sqlstate
        if sqlstate is None:  # raised by the driver itself: refused, timed out, closed
            return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        return sqlstate.startswith("08") or sqlstate in _CONNECTION_STATES
    # Django's own: "connection already closed" and the like.
    return isinstance(error, InterfaceError)


def sqlite_busy(exc: BaseException) -> bool:
    """SQLite's file stayed locked by another connection past the busy timeout."""
    error = _driver_error(exc)
    code = getattr(error, "sqlite_errorcode", 0) if isinstance(error, sqlite3.Error) else 0
    return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def not_the_datas_fault(exc: BaseException) -> bool:
    """The connection was lost, the server rolled the transaction back, or SQLite's file was
    busy: the same work may well succeed next time. Anything else (a statement cancelled or
    timed out, out of memory, a program limit, a full disk) may come again with the same data."""
    if connection_lost(exc):
        return True
    error = _driver_error(exc)
    if isinstance(error, psycopg.Error):
        return error.sqlstate in _ROLLBACK_STATES
    return sqlite_busy(exc)


def as_transient(exc: BaseException) -> BaseException:
    """`exc`, an error on the database's side (not_the_datas_fault), as one of the
    TRANSIENT_DB_ERRORS a task retries: itself, or, for a session the server ended with an
    error psycopg files under another class (an idle-in-transaction timeout is an
    InternalError), an OperationalError caused by the driver's error, which the functions here
    still read."""
    if isinstance(exc, TRANSIENT_DB_ERRORS):
        return exc
    transient = OperationalError(str(exc))
    transient.__cause__ = _driver_error(exc)
    return transient
