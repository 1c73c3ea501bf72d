"""Safe streaming XML for the XML result formats (TRX, NUnit, xUnit.net).

Every XML parser goes through `events()`: lxml iterparse with entities left unresolved, no
network, no DTD loading, default size limits (huge_tree off, so one text node cannot exceed
libxml2's 10 MB cap), and a refusal of any DOCTYPE. Detection already refuses a DOCTYPE in the
first 4 KB; this check covers one hidden behind a long prologue.

Errors carry libxml2's position: 1-based line and 1-based column of the byte where the parser
stopped, which for truncation is the end of the data and for a mismatched tag the column just
past the offending end tag.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from ingest.parsers.records import ParseError

_LOCAL: dict[str, str] = {}

# What every XML parser here is opened with: entities left unresolved, nothing fetched, no DTD
# loaded, libxml2's default size limits, comments never built.
SAFE_OPTIONS: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
}


def local(tag: object) -> str:
    """The local name of an element tag ('{ns}Name' -> 'Name'); '' for comments and PIs."""
    if not isinstance(tag, str):
        return ""
    name = _LOCAL.get(tag)
    if name is None:
        name = _LOCAL[tag] = tag.rpartition("}")[2]
    return name


def events(
    stream: BinaryIO, kinds: tuple[str, ...] = ("end",), names: tuple[str, ...] = ()
) -> Iterator[tuple[str, etree._Element]]:
    """(event, element) pairs of the document, refusing DOCTYPEs and mapping syntax errors to
    ParseError("malformed_xml") with line and column. With `names`, only elements of those
    local names (in any namespace) are reported: lxml filters in C, much faster than Python.
    Elements not reported are freed with the reported ancestor that release()s them."""
    context = etree.iterparse(
        stream,
        events=kinds,
        tag=[f"{{*}}{name}" for name in names] or None,
        remove_pis=True,
        **SAFE_OPTIONS,
    )
    try:
        first = next(context, None)
        root = first[1] if first is not None else context.root
        if root is not None and root.getroottree().docinfo.doctype:
            raise ParseError(
                "forbidden_dtd", "XML with a DOCTYPE (DTD or entity declarations) is not accepted"
            )
        if first is not None:
            # chain() keeps the per-event cost of the loop body at zero for the check above.
            yield from itertools.chain((first,), context)
    except etree.XMLSyntaxError as exc:
        raise syntax_error(exc) from None


def syntax_error(exc: etree.XMLSyntaxError) -> ParseError:
    line, column = exc.position if exc.position else (0, 0)
    message = (exc.msg or str(exc)).split(", line ")[0]
    if not line:
        # With entities unresolved, libxml2 reports an undefined entity only in the error log
        # and lxml raises a generic "no element found" at (0, 0). The log can still hold
        # earlier documents' errors, so the last entry is this one.
        logged = [entry for entry in exc.error_log if entry.line > 0]
        if logged:
            line, column, message = logged[-1].line, logged[-1].column, logged[-1].message
    return ParseError(
        "malformed_xml",
        f"the XML is not well-formed: {message}",
        line=line or None,
        column=column or None,
    )


def text(elem: etree._Element | None) -> str:
    """All text inside `elem` (CDATA included), or '' when absent."""
    if elem is None:
        return ""
    if len(elem) == 0:
        return elem.text or ""
    return "".join(elem.itertext())


def child(elem: etree._Element, name: str) -> etree._Element | None:
    """The first child with local name `name`."""
    for sub in elem:
        if local(sub.tag) == name:
            return sub
    return None


def release(elem: etree._Element) -> None:
    """Free a processed element and the already-processed siblings before it, so memory stays
    bounded by one test rather than the file."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]
