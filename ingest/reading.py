"""Reading one uploaded file: gzip bound, content sniffing, refusal of DTDs, the format's parser.

The upload API checks every file before accepting it (so a bad file is refused with a 4xx and
nothing is stored); the parse task then loads the results with the format's parser.

How much the upload check reads depends on the format. JUnit's parser raises nothing but
`malformed_xml`, `forbidden_dtd` and `unsupported_format` (a root it does not read), so for JUnit
a syntax check finds every error the parser would: sniffing has recognised the root, and one
libxml2 pass with no Python work per element (`syntax_check`) checks well-formedness, with the
same line and column the parser reports, and refuses a DOCTYPE anywhere. That pass runs at
hundreds of MB/s, where a full parse runs at a few MB/s, and the file is parsed in Python once,
by the worker. Files of the other formats are still parsed completely at upload: the JSON
formats have errors only their parser finds (a JSON file that is not CTRF), and the other XML
formats (TRX, NUnit, xUnit.net) keep the full check until they are measured to need otherwise.
One difference remains for JUnit: the upload no longer knows the earliest test start in the file,
so a run whose upload gives no `started_at` gets its start (and week) from the parse.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import BinaryIO

from lxml import etree

from ingest import parsers
from ingest.identity import identity
from ingest.parsers.records import ParseError, TestRecord
from ingest.parsers.sniffing import has_doctype
from ingest.parsers.streams import BoundedReader, buffered, open_bounded, read_head


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


# Formats whose parser can raise no error that `syntax_check` does not find (see above).
SYNTAX_CHECKED_FORMATS = frozenset({"junit"})


class _NoEvents:
    """An lxml parser target that builds nothing: libxml2 checks the syntax and calls back only
    for a DOCTYPE, which is refused."""

    def doctype(self, *_: object) -> None:
        raise ParseError(
            "forbidden_dtd", "XML with a DOCTYPE (DTD or entity declarations) is not accepted"
        )

    def close(self) -> None:
        return None


class SyntaxCheck:
    """Feed the decompressed bytes of an XML file in chunks; `close()` raises ParseError
    (`malformed_xml` with libxml2's 1-based line and column, or `forbidden_dtd`) for a document
    that is not well-formed. Memory stays constant whatever the file's size."""

    def __init__(self) -> None:
        self._parser = etree.XMLParser(
            target=_NoEvents(), resolve_entities=False, no_network=True, load_dtd=False,
            huge_tree=False,
        )  # fmt: skip

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise _malformed(exc) from None

    def close(self) -> None:
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            raise _malformed(exc) from None


def _malformed(exc: etree.XMLSyntaxError) -> ParseError:
    line, column = exc.position if exc.position else (0, 0)
    text = str(exc.msg or exc).removesuffix(f", line {line}, column {column}")
    return ParseError(
        "malformed_xml",
        f"the XML is not well-formed: {text}",
        line=line or None,
        column=column if line else None,
    )


def iter_records(
    raw: BinaryIO, fmt: str, *, limit: int, digest: bool = False
) -> tuple[BoundedReader, Iterator[TestRecord]]:
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
