"""The normalized record every format parser yields, and the error every parser raises.

A parser is a module in this package with two functions:

    sniff(head: bytes) -> bool
        True when the first bytes of a (decompressed) file look like this format. `head` is up
        to HEAD_BYTES long, starts after any UTF-8 BOM and leading whitespace, and may cut a
        token in half. Sniffing never raises.

    parse(stream: BinaryIO) -> Iterator[TestRecord]
        Streams the whole file and yields one record per *attempt* of a test, in the order the
        attempts happened (a rerun after the run it repeats). Memory stays bounded by the largest
        single test, never by the file. Problems in the data raise ParseError with the line and
        column where they were found; the caller discards everything yielded before the error.

Attempt numbers and per-file timelines are assigned by the caller (ingest.loading), not by the
parsers: the n-th record of the same test identity in one run is attempt n.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

HEAD_BYTES = 64 * 1024
MESSAGE_LIMIT = 4 * 1024  # bytes (UTF-8) kept of a failure message
OUTPUT_LIMIT = 64 * 1024  # bytes (UTF-8) kept of captured output (stdout + stderr + trace)
NAME_LIMIT = 1000  # characters kept of suite, classname, name and file


class Outcome(enum.IntEnum):
    """Stored as a small integer; the API speaks the lower-case names."""

    PASSED = 0
    FAILED = 1
    ERROR = 2
    SKIPPED = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def is_failure(self) -> bool:
        """`error` counts as failed in every metric."""
        return self in (Outcome.FAILED, Outcome.ERROR)


@dataclass(slots=True)
class TestRecord:
    """One attempt of one test, as reported by a result file."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    outcome: Outcome
    classname: str = ""
    suite: str = ""  # suite path, outermost first, joined with " / "
    file: str = ""
    line: int | None = None
    duration_ms: int | None = None  # None when the file gives no usable duration
    timeline: str = ""  # worker / thread the test ran on; "" = the file is its own timeline
    started_at: datetime | None = None  # timezone-aware when known
    message: str = ""  # first MESSAGE_LIMIT bytes of the failure/skip message
    output: str = ""  # first OUTPUT_LIMIT bytes of stack trace and captured output
    properties: dict[str, str] = field(default_factory=dict)


class ParseError(Exception):
    """Data that cannot be read as test results. Never retried; reported to the uploader."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.line = line
        self.column = column

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"error": self.code, "detail": self.detail}
        if self.line is not None:
            data["line"] = self.line
        if self.column is not None:
            data["column"] = self.column
        return data

    def __str__(self) -> str:
        where = ""
        if self.line is not None:
            where = f" (line {self.line}" + (f", column {self.column})" if self.column else ")")
        return f"{self.detail}{where}"


_MARKER = "\n[... truncated]"


def clip(text: str | None, limit: int) -> str:
    """Keep what fits in `limit` bytes of UTF-8 (whole characters), marking the cut so nobody
    mistakes it for the whole."""
    if not text:
        return ""
    if len(text) <= limit // 4 or (len(text) <= limit and text.isascii()):
        return text  # fits whatever it holds / one byte a character
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    # A cut inside a character drops its first bytes too ("ignore").
    return data[: max(0, limit - len(_MARKER))].decode("utf-8", "ignore") + _MARKER
