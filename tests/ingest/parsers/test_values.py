"""The lenient value readers, on the spellings the sample corpus contains."""

from __future__ import annotations

import datetime as dt

import pytest

from ingest.parsers import isotime
from ingest.parsers.values import epoch_ms_to_datetime, ms_to_ms, parse_timestamp, seconds_to_ms

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1.5", 1500),
        ("0.378", 378),
        ("0", 0),
        ("0.0205739", 21),  # .NET logger, 7 fractional digits
        ("0.09205175", 92),  # Swift, 8 fractional digits
        ("4.50611114501953e-05", 0),  # Perl TAP::Harness::JUnit
        ("2,503.1", 2_503_100),  # comma thousands separator (old Surefire XSD)
        ("1,234.567", 1_234_567),
        ("999638317", 1000),  # container-structure-test writes integer nanoseconds
        ("100", 100_000),  # a plain integer below the nanosecond threshold is seconds
        (" 2.5 ", 2500),
        ("-345345", None),  # negative
        ("", None),
        ("   ", None),
        (None, None),
        ("abc", None),
        ("nan", None),
        ("inf", None),
        ("1e400", None),
    ],
)
def test_seconds_to_ms(text: str | None, ms: int | None) -> None:
    assert seconds_to_ms(text) == ms


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (150, 150),
        (5100.4, 5100),
        ("300", 300),
        (-1, None),
        (True, None),
        (None, None),
        ("x", None),
        (float("nan"), None),
    ],
)
def test_ms_to_ms(value: object, ms: int | None) -> None:
    assert ms_to_ms(value) == ms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-03T11:23:00.00", dt.datetime(2024, 1, 3, 11, 23, tzinfo=UTC)),
        ("2024-01-03T12:27:11", dt.datetime(2024, 1, 3, 12, 27, 11, tzinfo=UTC)),
        ("2024-01-03T 12:40:13", dt.datetime(2024, 1, 3, 12, 40, 13, tzinfo=UTC)),
        ("2024-01-03T12:27:44Z", dt.datetime(2024, 1, 3, 12, 27, 44, tzinfo=UTC)),
        ("2024-01-03 12:27:54Z", dt.datetime(2024, 1, 3, 12, 27, 54, tzinfo=UTC)),
        ("2024-01-03", dt.datetime(2024, 1, 3, tzinfo=UTC)),
        ("2024-01-03T12:27:11.21-01:00", dt.datetime(2024, 1, 3, 13, 27, 11, 210_000, tzinfo=UTC)),
        ("2024-01-03T12:27:15+01:00", dt.datetime(2024, 1, 3, 11, 27, 15, tzinfo=UTC)),
        ("2021-03-07T10:36:56 UTC", dt.datetime(2021, 3, 7, 10, 36, 56, tzinfo=UTC)),
        ("2021-04-04T16:42:06.1234567", dt.datetime(2021, 4, 4, 16, 42, 6, 123456, tzinfo=UTC)),
        (
            "2025-11-15T11:51:49.548396-05:00",
            dt.datetime(2025, 11, 15, 16, 51, 49, 548396, tzinfo=UTC),
        ),
        ("Sat, 03 Dec 2022 23:10:07 GMT", dt.datetime(2022, 12, 3, 23, 10, 7, tzinfo=UTC)),
        ("06/15/2018 18:09:29", dt.datetime(2018, 6, 15, 18, 9, 29, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),  # Go's zero time means "unknown"
        # Placeholders and broken clocks: unknown, not a run in year 9999 or before 1970.
        ("9999-12-31T23:59:59Z", None),
        ("9999-12-31T23:00:00-05:00", None),  # past the calendar's end in UTC
        ("0001-01-01T00:30:00+01:00", None),  # before its start in UTC
        ("12/31/9999 11:59:59 PM", None),
        ("Fri, 31 Dec 9999 23:59:59 -0500", None),
        ("1969-12-31T23:59:59Z", None),
        ("2099-12-31T23:59:59Z", dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2024-13-40T99:00:00", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: str | None, expected: dt.datetime | None) -> None:
    got = parse_timestamp(text)
    assert got == expected
    if got is not None:
        assert got.utcoffset() == dt.timedelta(0)
    assert isotime.timestamp(text) == expected  # the fast path for strict ISO reads the same


def test_epoch_ms_to_datetime() -> None:
    assert epoch_ms_to_datetime(1609459203500) == dt.datetime(
        2021, 1, 1, 0, 0, 3, 500_000, tzinfo=UTC
    )
    assert epoch_ms_to_datetime(0) is None
    assert epoch_ms_to_datetime("soon") is None
    assert epoch_ms_to_datetime(10**20) is None  # beyond any calendar
    assert epoch_ms_to_datetime(253402297200000) is None  # 9999-12-31T23:00Z: a placeholder
