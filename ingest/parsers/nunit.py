"""NUnit native XML: NUnit 3 (`<test-run>` root) and NUnit 2 (`<test-results>` root).

Only `test-case` elements are tests. Suites repeat their children's failures ("One or more child
tests had errors") and are never counted.

NUnit 3 (FORMATS.md §4):
  - classname = `classname` (else the enclosing fixture's `fullname`); name follows
    ingest.parsers.dotnetnames from `methodname` and `name` (so `Is_Even_Number(2)` rows stay
    distinct tests); file = the enclosing Assembly suite's `fullname` (the test assembly, as TRX
    reports it); suite stays empty.
  - result Passed and Warning (passed with a warning) → passed; Skipped and Inconclusive →
    skipped, whatever the label (Ignored, Explicit); Failed with label Error, Invalid or
    Cancelled → error, else failed. A label that is not one of those words is a message (NUnit
    puts "Test exceeded Timeout value 1ms." there) and is used when `failure/message` is empty.
  - duration seconds → ms; start-time → started_at; message = failure/message (reason/message
    for a skip); output = failure/stack-trace then `output`; properties = the test-case's
    `<property>`s except NUnit's internal ones (names starting with `_`).
NUnit 2:
  - name is the fully qualified `Ns.Class.Method(args)`: split at the last dot before the
    argument list into classname and name; file = the root test-suite's name (the assembly).
  - `result` (2.5+): Success → passed; Failure → failed; Error, Cancelled, NotRunnable → error;
    Ignored, Skipped, Inconclusive, NotRun → skipped. Without `result`: executed=False → skipped,
    success=True → passed, else failed. `time` seconds → ms; no start time.
timeline stays "" (NUnit records no worker per test). ParseError positions: see
ingest.parsers.xmlstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from ingest.parsers import xmlstream
from ingest.parsers.dotnetnames import split_qualified, test_name
from ingest.parsers.isotime import timestamp
from ingest.parsers.records import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    Outcome,
    TestRecord,
    clip,
)
from ingest.parsers.sniffing import xml_root_name
from ingest.parsers.values import seconds_to_ms

ROOTS = ("test-run", "test-results")
PROPERTY_LIMIT = 50  # properties kept per test

NUNIT3: dict[str, Outcome] = {
    "passed": Outcome.PASSED,
    "warning": Outcome.PASSED,
    "failed": Outcome.FAILED,
    "skipped": Outcome.SKIPPED,
    "inconclusive": Outcome.SKIPPED,
}
ERROR_LABELS = frozenset({"error", "invalid", "cancelled"})
KNOWN_LABELS = ERROR_LABELS | {"ignored", "explicit"}

NUNIT2: dict[str, Outcome] = {
    "success": Outcome.PASSED,
    "failure": Outcome.FAILED,
    "error": Outcome.ERROR,
    "cancelled": Outcome.ERROR,
    "notrunnable": Outcome.ERROR,
    "ignored": Outcome.SKIPPED,
    "skipped": Outcome.SKIPPED,
    "inconclusive": Outcome.SKIPPED,
    "notrun": Outcome.SKIPPED,
}


def sniff(head: bytes) -> bool:
    return xml_root_name(head) in ROOTS


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    local = xmlstream.local
    # (parent element, its (fixture classname, assembly)) for the last test-case seen: test
    # cases come in runs under one parent, so the ancestor walk happens once a fixture.
    context_of: tuple[etree._Element | None, tuple[str, str]] = (None, ("", ""))
    version3: bool | None = None  # from the root: test-results is NUnit 2
    for _, elem in xmlstream.events(stream, names=("test-case", "test-suite")):
        name = local(elem.tag)
        if name == "test-case":
            parent = elem.getparent()
            if parent is not context_of[0]:
                context_of = (parent, _context(elem))
            fixture, assembly = context_of[1]
            if version3 is None:
                version3 = local(elem.getroottree().getroot().tag) != "test-results"
            if version3:
                yield _nunit3(elem, fixture, assembly)
            else:
                yield _nunit2(elem, assembly)
            xmlstream.release(elem)
        elif name == "test-suite":
            xmlstream.release(elem)


def _context(case: etree._Element) -> tuple[str, str]:
    """(classname of the nearest fixture, name of the outermost assembly suite) above `case`."""
    fixture = assembly = ""
    for ancestor in case.iterancestors():
        if xmlstream.local(ancestor.tag) != "test-suite":
            continue
        kind = ancestor.get("type") or ""
        if not fixture and kind in ("TestFixture", "ParameterizedFixture", "GenericFixture"):
            fixture = ancestor.get("classname") or ancestor.get("fullname") or ""
        if kind == "Assembly":
            assembly = ancestor.get("fullname") or ancestor.get("name") or ""
        elif not kind:
            # NUnit 2 suites have no type: the outermost one is the assembly.
            assembly = ancestor.get("name") or assembly
    return fixture, assembly


def _nunit3(case: etree._Element, fixture: str, assembly: str) -> TestRecord:
    get = case.get
    result = (get("result") or "").lower()
    label = get("label") or ""
    outcome = NUNIT3.get(result, Outcome.SKIPPED)
    if outcome is Outcome.FAILED and label.lower() in ERROR_LABELS:
        outcome = Outcome.ERROR
    message, stack, output = _children(case)
    if not message and label and label.lower() not in KNOWN_LABELS:
        message = label
    classname = get("classname") or fixture
    properties: dict[str, str] = {}
    props = xmlstream.child(case, "properties") if len(case) else None
    if props is not None:
        for prop in props:
            key = prop.get("name") or ""
            if key and not key.startswith("_") and len(properties) < PROPERTY_LIMIT:
                properties[key[:NAME_LIMIT]] = (prop.get("value") or "")[:NAME_LIMIT]
    return TestRecord(
        name=test_name(get("methodname") or "", get("name") or "", classname)[:NAME_LIMIT],
        outcome=outcome,
        classname=classname[:NAME_LIMIT],
        file=assembly[:NAME_LIMIT],
        duration_ms=seconds_to_ms(get("duration")),
        started_at=timestamp(get("start-time")),
        message=clip(message.strip(), MESSAGE_LIMIT) if message else "",
        output=clip(_join(stack, output), OUTPUT_LIMIT) if stack or output else "",
        properties=properties,
    )


def _nunit2(case: etree._Element, assembly: str) -> TestRecord:
    get = case.get
    result = (get("result") or "").replace(" ", "").lower()
    if result in NUNIT2:
        outcome = NUNIT2[result]
    elif (get("executed") or "").lower() == "false":
        outcome = Outcome.SKIPPED
    elif (get("success") or "").lower() == "true":
        outcome = Outcome.PASSED
    else:
        outcome = Outcome.FAILED
    classname, name = split_qualified(get("name") or "")
    message, stack, output = _children(case)
    return TestRecord(
        name=name[:NAME_LIMIT],
        outcome=outcome,
        classname=classname[:NAME_LIMIT],
        file=assembly[:NAME_LIMIT],
        duration_ms=seconds_to_ms(get("time")),
        message=clip(message.strip(), MESSAGE_LIMIT),
        output=clip(_join(stack, output), OUTPUT_LIMIT),
    )


def _children(case: etree._Element) -> tuple[str, str, str]:
    """(message, stack trace, captured output) of a test-case."""
    message = stack = output = ""
    if not len(case):
        return message, stack, output
    for sub in case:
        kind = xmlstream.local(sub.tag)
        if kind == "failure":
            message = xmlstream.text(xmlstream.child(sub, "message")) or message
            stack = xmlstream.text(xmlstream.child(sub, "stack-trace"))
        elif kind == "reason" and not message:
            message = xmlstream.text(xmlstream.child(sub, "message"))
        elif kind == "output":
            output = xmlstream.text(sub)
    return message, stack, output


def _join(*parts: str) -> str:
    return "\n".join(p.strip("\r\n") for p in parts if p.strip())
