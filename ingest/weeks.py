"""ISO weeks in UTC: the unit every metric is reported in."""

from __future__ import annotations

import datetime as dt
import re

_LABEL = re.compile(r"^(\d{4})-W(\d{2})$")


def week_start(moment: dt.datetime) -> dt.date:
    """Monday of the ISO week containing `moment`, in UTC."""
    day = moment.astimezone(dt.UTC).date() if moment.tzinfo else moment.date()
    return day - dt.timedelta(days=day.weekday())


def week_end(week: dt.date) -> dt.datetime:
    """The moment the week starting on Monday `week` ends: the next Monday, 00:00 UTC."""
    return dt.datetime.combine(week + dt.timedelta(days=7), dt.time(), tzinfo=dt.UTC)


def week_label(moment: dt.datetime | dt.date) -> str:
    """`2026-W45`; note the ISO year differs from the calendar year near 1 January."""
    if isinstance(moment, dt.datetime):
        moment = week_start(moment)
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(label: str) -> dt.date:
    """The Monday of an ISO week label such as `2026-W45`; ValueError for anything else."""
    match = _LABEL.match(label)
    if not match:
        raise ValueError(f"{label!r} is not an ISO week such as 2026-W45")
    year, week = int(match.group(1)), int(match.group(2))
    if not 1970 <= year < 2100:  # the moments a run can have (ingest.parsers.values)
        raise ValueError(f"{label!r} is not a week from 1970 to 2099")
    try:
        return dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{label!r} is not a week of {year}") from None


def days_to_go(week: dt.date, today: dt.date) -> int:
    """Days of `week` after `today`: 0 once the week is over, 7 before it starts."""
    return max(0, min(7, (week - today).days + 6))


def in_progress(week: dt.date, today: dt.date) -> str:
    """ "in progress: N days to go" (or "last day") while `week` holds `today`, else ""."""
    if not week <= today < week + dt.timedelta(days=7):
        return ""
    left = days_to_go(week, today)
    if not left:
        return "in progress: last day"
    return f"in progress: {left} day{'s' if left > 1 else ''} to go"
