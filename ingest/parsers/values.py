"""Lenient readers for the values result files carry: durations and timestamps in many spellings.

They never raise: a value that cannot be read is None, because a bad timestamp should not cost a
user their whole upload (FORMATS.md §1.4).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re

# Integer "seconds" at or above this are taken as nanoseconds (container-structure-test writes
# time="999638317"): no test runs for 11.5 days, and no tool writes nanoseconds below it.
_NANOSECONDS_FROM = 1_000_000


def seconds_to_ms(text: str | None) -> int | None:
    """`"1.5"` -> 1500; `"2,503.1"` (comma thousands) -> 2503100; `"4.5e-05"` -> 0;
    an integer >= 1e6 is read as nanoseconds; missing, negative or unreadable -> None."""
    if text is None:
        return None
    try:  # the common spelling, a plain decimal, without the string handling below
        value = float(text)
    except ValueError:
        pass
    else:
        if 0 <= value < _NANOSECONDS_FROM:
            return round(value * 1000)
    raw = text.strip().replace(",", "")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if value != value or value < 0 or value == float("inf"):  # NaN, negative, infinite
        return None
    if value >= _NANOSECONDS_FROM and re.fullmatch(r"\d+", raw):
        return round(value / 1_000_000)
    return round(value * 1000)


def ms_to_ms(value: object) -> int | None:
    """A millisecond count from JSON (int, float or numeric string); None when unusable."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if number != number or number < 0 or number == float("inf"):
        return None
    return round(number)


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\s*(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM)?$", re.I)


# Moments outside these are a broken clock or a placeholder (Go's zero time, 9999-12-31), never
# when a test ran: read as unknown, so no run lands in year 1 or overflows week arithmetic.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def plausible(value: dt.datetime | None) -> dt.datetime | None:
    """`value` in UTC (no zone read as UTC) if it lies from EARLIEST to before LATEST, else None."""
    if value is None:
        return None
    try:
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None
    return value if EARLIEST <= value < LATEST else None


def parse_timestamp(text: str | None) -> dt.datetime | None:
    """ISO 8601 and its common deformations, RFC 1123, and US `06/15/2018 18:09:29`.
    A value with no zone is taken as UTC. Unreadable and implausible values give None."""
    if not text:
        return None
    raw = text.strip()
    match = _ISO.match(raw)
    if match:
        year, month, day, hour, minute, second, frac, zone = match.groups()
        try:
            micro = int((frac or "0")[:6].ljust(6, "0"))
            value = dt.datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                micro,
                tzinfo=_zone(zone),
            )
        except ValueError:
            return None
        return plausible(value)
    match = _US.match(raw)
    if match:
        month, day, year, hour, minute, second, ampm = match.groups()
        h = int(hour) % 12 + (12 if ampm and ampm.upper() == "PM" else 0) if ampm else int(hour)
        try:
            return plausible(dt.datetime(
                int(year), int(month), int(day), h, int(minute), int(second or 0), tzinfo=dt.UTC
            ))  # fmt: skip
        except ValueError:
            return None
    try:
        return plausible(email.utils.parsedate_to_datetime(raw))
    except (TypeError, ValueError, IndexError):
        return None


def epoch_ms_to_datetime(value: object) -> dt.datetime | None:
    ms = ms_to_ms(value)
    if ms is None or ms == 0:
        return None
    try:
        return plausible(dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _zone(zone: str | None) -> dt.tzinfo:
    if not zone or zone.upper() in ("Z", "UTC", "GMT"):
        return dt.UTC
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None
