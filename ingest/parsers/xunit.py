"""xUnit.net v2 native XML (`<assemblies>` root, `xunit.console -xml`).

Mapping (FORMATS.md §5):
  - One record per `<test>`. classname = `type`; name follows ingest.parsers.dotnetnames from
    `method` and the display `name`: the method, plus the display name's argument list for theory
    rows (`Is_Even_Number(i: 2)`), so a display sentence never becomes the identity and data rows
    stay distinct tests. Only when `method` is absent is the display name the name (without a
    `type.` prefix). file = the assembly's `name` (the test DLL path, as TRX reports it).
  - result Pass → passed, Fail → failed, Skip → skipped, NotRun → skipped; anything else →
    failed. `time` seconds → ms. No per-test start time (the assembly's `run-date`/`run-time`
    are in local time without a zone, so they are not used).
  - message = `failure/message` (the `exception-type` when the message is empty), or `reason`
    for a skip; output = `failure/stack-trace`, then `output`. `<traits>` → properties.
  - timeline = the test collection's name: xUnit runs the tests of one collection one after
    another and collections in parallel, so a collection is the worker order.
  - Assembly-level `<errors>` (fixture, cleanup and fatal errors) would otherwise vanish: each
    becomes an ERROR record with classname "" and name `[<type> <name>]` (e.g.
    `[test-class-cleanup MyProject.Tests.SampleFact]`, or `[fatal]`), the failure's message and
    stack trace, and the assembly as file.
ParseError positions: see ingest.parsers.xmlstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from ingest.parsers import xmlstream
from ingest.parsers.dotnetnames import strip_class, test_name
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

RESULTS: dict[str, Outcome] = {
    "pass": Outcome.PASSED,
    "fail": Outcome.FAILED,
    "skip": Outcome.SKIPPED,
    "notrun": Outcome.SKIPPED,
}
PROPERTY_LIMIT = 50


def sniff(head: bytes) -> bool:
    return xml_root_name(head) == "assemblies"


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    local = xmlstream.local
    for _, elem in xmlstream.events(
        stream, names=("test", "error", "collection", "errors", "assembly")
    ):
        name = local(elem.tag)
        if name == "test":
            collection = elem.getparent()
            assembly = collection.getparent() if collection is not None else None
            yield _test(
                elem,
                collection.get("name") or "" if collection is not None else "",
                assembly.get("name") or "" if assembly is not None else "",
            )
            xmlstream.release(elem)
        elif name == "error":
            errors = elem.getparent()
            assembly = errors.getparent() if errors is not None else None
            yield _error(elem, assembly.get("name") or "" if assembly is not None else "")
            xmlstream.release(elem)
        elif name in ("collection", "errors", "assembly"):
            xmlstream.release(elem)


def _test(elem: etree._Element, collection: str, assembly: str) -> TestRecord:
    get = elem.get
    classname = get("type") or ""
    outcome = RESULTS.get((get("result") or "").lower(), Outcome.FAILED)
    message, stack, output = "", "", ""
    properties: dict[str, str] = {}
    if len(elem):  # most tests have no children: no failure, reason, output or traits
        message, stack = _failure(xmlstream.child(elem, "failure"))
    for sub in elem:
        kind = xmlstream.local(sub.tag)
        if kind == "reason" and not message:
            message = xmlstream.text(sub)
        elif kind == "output":
            output = xmlstream.text(sub)
        elif kind == "traits":
            for trait in sub:
                key = trait.get("name") or ""
                if key and len(properties) < PROPERTY_LIMIT:
                    properties[key[:NAME_LIMIT]] = (trait.get("value") or "")[:NAME_LIMIT]
    method = get("method") or ""
    display = get("name") or ""
    name = test_name(method, display, classname) if method else strip_class(display, classname)
    return TestRecord(
        name=name[:NAME_LIMIT],
        outcome=outcome,
        classname=classname[:NAME_LIMIT],
        file=assembly[:NAME_LIMIT],
        duration_ms=seconds_to_ms(get("time")),
        timeline=collection[:NAME_LIMIT],
        message=clip(message.strip(), MESSAGE_LIMIT) if message else "",
        output=clip(_join(stack, output), OUTPUT_LIMIT) if stack or output else "",
        properties=properties,
    )


def _error(elem: etree._Element, assembly: str) -> TestRecord:
    kind = elem.get("type") or "error"
    subject = elem.get("name") or ""
    message, stack = _failure(xmlstream.child(elem, "failure"))
    return TestRecord(
        name=(f"[{kind} {subject}]" if subject else f"[{kind}]")[:NAME_LIMIT],
        outcome=Outcome.ERROR,
        file=assembly[:NAME_LIMIT],
        message=clip(message.strip(), MESSAGE_LIMIT),
        output=clip(stack.strip("\r\n"), OUTPUT_LIMIT),
    )


def _failure(failure: etree._Element | None) -> tuple[str, str]:
    if failure is None:
        return "", ""
    message = xmlstream.text(xmlstream.child(failure, "message"))
    stack = xmlstream.text(xmlstream.child(failure, "stack-trace"))
    return message or failure.get("exception-type") or "", stack


def _join(*parts: str) -> str:
    return "\n".join(p.strip("\r\n") for p in parts if p.strip())
