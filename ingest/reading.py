"""Reading one uploaded file: gzip bound, content sniffing, refusal of DTDs, the format's parser.

Used twice for every file: by the upload API to validate before accepting (so a bad file is
refused with a 4xx and nothing is stored) and by the parse task to load the results.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import BinaryIO

from ingest import parsers
from ingest.identity import identity
from ingest.parsers.records import ParseError, TestRecord
from ingest.parsers.sniffing import has_doctype
from ingest.parsers.streams import buffered, open_bounded, read_head


def detect_format(raw: BinaryIO, *, limit: int) -> str:
    """The format of `raw` (plain or gzip), or ParseError for empty, DTD-bearing or unknown content."""
    head = read_head(raw, limit=limit)
    if not head:
        raise ParseError("empty_file", "the file is empty")
    if head.startswith(b"<") and has_doctype(head):
        # No result format needs a DTD; refusing them outright defeats XXE and entity bombs.
        raise ParseError(
            "forbidden_dtd", "XML with a DOCTYPE (DTD or entity declarations) is not accepted"
        )
    fmt = parsers.detect(head)
    if fmt is None:
        known = ", ".join(parsers.available_formats())
        raise ParseError(
            "unsupported_format",
            f"the content is not a test-result format this server reads ({known})",
        )
    return fmt


def iter_records(raw: BinaryIO, fmt: str, *, limit: int, digest: bool = False):
    """(reader, records): records of the decompressed content; `reader` knows size and digest
    once the records are exhausted."""
    reader = open_bounded(raw, limit=limit, digest=digest)
    return reader, parsers.parse(fmt, buffered(reader))


class AttemptCounter:
    """Numbers attempts: the n-th record of one test within a run is attempt n.

    Keys are test ids (ints) in the loader, identity tuples in tests. Memory: one set entry per
    test, and a dict entry only for tests seen more than once (retries are rare).
    """

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()
        self._repeats: dict[Hashable, int] = {}

    def next(self, key: Hashable) -> int:
        if key not in self._seen:
            self._seen.add(key)
            return 1
        n = self._repeats.get(key, 1) + 1
        self._repeats[key] = n
        return n

    def __len__(self) -> int:
        return len(self._seen)


def read_all(raw: BinaryIO, *, limit: int) -> tuple[str, list[tuple[int, TestRecord]]]:
    """Detect and parse a whole file into (attempt, record) pairs. For tests and small files."""
    fmt = detect_format(raw, limit=limit)
    _, records = iter_records(raw, fmt, limit=limit)
    counter = AttemptCounter()
    numbered: Iterator[tuple[int, TestRecord]] = ((counter.next(identity(r)), r) for r in records)
    return fmt, list(numbered)
