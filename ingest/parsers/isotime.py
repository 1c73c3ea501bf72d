"""Timestamps that are almost always strict ISO 8601 (TRX, NUnit 3, test2json), read on a path
that costs a C call per test; anything else goes to the general values.parse_timestamp.

Same results as values.parse_timestamp: aware, in UTC; no zone read as UTC; implausible moments
(Go's zero time in year 1) are None; fractions beyond microseconds dropped.
"""

from __future__ import annotations

from datetime import datetime

from ingest.parsers.values import parse_timestamp, plausible


def timestamp(text: object) -> datetime | None:
    if not text or not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return parse_timestamp(text)
    return plausible(value)
