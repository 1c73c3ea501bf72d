"""Visual Studio TRX (`dotnet test --logger trx`, MSTest, xUnit.net v3 under the Testing Platform).

Mapping (FORMATS.md §3):
  - One record per `Results/UnitTestResult` (also the other result kinds: `TestResult`,
    `WebTestResult`, `GenericTestResult`, `ManualTestResult`, `TestResultAggregation`). A result
    with `InnerResults` (data-driven rows, ordered tests) is an aggregate: each inner result is a
    record instead, and the aggregate is not. An inner row whose name does not differ from its
    parent's gets ` (Data Row N)` from `dataRowInfo`, as Visual Studio shows it.
  - classname and method come from joining `UnitTestResult@testId` to
    `TestDefinitions/UnitTest@id` → `TestMethod@className` / `@name`. MSTest's assembly-qualified
    class (`Ns.Class, Assembly, Version=…`) is cut to the type name. The name follows
    ingest.parsers.dotnetnames (method, plus the data-row arguments of the result's `testName`).
  - file = `TestMethod@codeBase` (else `UnitTest@storage`): the test assembly, the only file TRX
    knows. suite stays empty.
  - A result whose definition never arrives (a cut or hand-edited file) is still reported, at
    the end, with classname "" and its `testName` as name.
  - Outcomes: Passed, PassedButRunAborted, Completed, Warning (passed with a warning) → passed;
    Failed, Timeout → failed; Error, Aborted, NotRunnable (a test that cannot run, e.g. a bad
    signature), Disconnected (the agent was lost mid-test) → error; NotExecuted, Inconclusive,
    Pending, InProgress and anything unknown → skipped (no verdict was reached).
  - duration `hh:mm:ss.fffffff` (or `d.hh:mm:ss…`) → ms; `startTime` → started_at.
  - message = `ErrorInfo/Message`; output = `ErrorInfo/StackTrace`, `StdOut`, `StdErr`,
    `DebugTrace` in that order.
  - timeline stays "": `computerName` names a machine, not a worker, and TRX records no thread.
  - Empty `Results`/`TestDefinitions` → no records, no error.

Memory: sections come in any order. Definitions are kept (class, method, file) only while
results may still follow; results that arrive before their definition — the usual dotnet order
— are kept in a compact form (clipped message and output) until the definition arrives, then
emitted. Both wait in ingest.parsers.spillmap, which moves to a temporary SQLite file past
20,000 entries, so memory stays bounded however many tests the file has. The order of records
is that of the later of the two sections. ParseError positions: see ingest.parsers.xmlstream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from lxml import etree

from ingest.parsers import xmlstream
from ingest.parsers.dotnetnames import clr_type, test_name
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
from ingest.parsers.spillmap import BATCH, SpillMap

RESULTS = frozenset(
    {
        "UnitTestResult",
        "TestResult",
        "WebTestResult",
        "GenericTestResult",
        "ManualTestResult",
        "TestResultAggregation",
    }
)
DEFINITIONS = frozenset({"UnitTest", "WebTest", "GenericTest", "ManualTest", "OrderedTest"})
# Repeated, already-used elements released as they end so they do not pile up under the root.
RELEASED = frozenset({"TestEntry", "TestList", "RunInfo"})
WATCHED = (*RESULTS, *DEFINITIONS, *RELEASED, "Results", "TestDefinitions")

OUTCOMES: dict[str, Outcome] = {
    "passed": Outcome.PASSED,
    "passedbutrunaborted": Outcome.PASSED,
    "completed": Outcome.PASSED,
    "warning": Outcome.PASSED,
    "failed": Outcome.FAILED,
    "timeout": Outcome.FAILED,
    "error": Outcome.ERROR,
    "aborted": Outcome.ERROR,
    "notrunnable": Outcome.ERROR,
    "disconnected": Outcome.ERROR,
    "notexecuted": Outcome.SKIPPED,
    "inconclusive": Outcome.SKIPPED,
    "pending": Outcome.SKIPPED,
    "inprogress": Outcome.SKIPPED,
}

_TIMESPAN = re.compile(r"^\s*(?:(\d+)\.)?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d+))?\s*$")


class _Definition(NamedTuple):
    classname: str
    method: str
    file: str


class _Result(NamedTuple):
    """The fields of a result kept while it waits for its definition (marshal-able types)."""

    display: str
    outcome: int
    duration_ms: int | None
    started: str  # startTime as written; read when the record is made
    message: str
    output: str


def sniff(head: bytes) -> bool:
    return xml_root_name(head) == "TestRun"


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    definitions = SpillMap()  # testId -> _Definition, while results may still follow
    waiting = SpillMap()  # testId -> _Result that arrived before its definition
    # Once a map has spilled to disk, lookups in it go in batches of spillmap.BATCH.
    results_to_join: list[tuple[str, _Result]] = []
    definitions_to_join: list[tuple[str, _Definition]] = []
    results_done = False  # once Results has ended, no result can need a later lookup
    kinds: dict[str, str] = {}
    try:
        for _, elem in xmlstream.events(stream, names=WATCHED):
            tag = elem.tag
            kind = kinds.get(tag)
            if kind is None:
                kind = kinds[tag] = _kind(xmlstream.local(tag))
            if kind == "result":
                parent = elem.getparent()
                if parent is not None and xmlstream.local(parent.tag) == "InnerResults":
                    continue  # read with its outer result, which ends later
                for test_id, result in _results(elem, "", ""):
                    if definitions.spilled:
                        results_to_join.append((test_id, result))
                        continue
                    found = definitions.get(test_id)
                    if found:
                        yield _record(result, _Definition(*found[0]))
                    else:
                        waiting.add(test_id, result)
                xmlstream.release(elem)
                if len(results_to_join) >= BATCH:
                    yield from _join_results(results_to_join, definitions, waiting)
            elif kind == "definition":
                test_id, definition = _definition(elem)
                xmlstream.release(elem)
                if waiting.spilled:
                    definitions_to_join.append((test_id, definition))
                    if len(definitions_to_join) >= BATCH:
                        yield from _join_definitions(definitions_to_join, waiting)
                else:
                    for held in waiting.pop(test_id):
                        yield _record(_Result(*held), definition)
                if not results_done:
                    definitions.add(test_id, definition)
            elif kind == "results":
                yield from _join_results(results_to_join, definitions, waiting)
                results_done = True
                definitions.clear()
                xmlstream.release(elem)
            elif kind == "definitions":
                yield from _join_definitions(definitions_to_join, waiting)
                xmlstream.release(elem)
            elif kind == "released":
                xmlstream.release(elem)
        yield from _join_results(results_to_join, definitions, waiting)
        yield from _join_definitions(definitions_to_join, waiting)
        for held in waiting.drain():
            yield _record(_Result(*held), None)
    finally:
        definitions.close()
        waiting.close()


def _join_results(
    batch: list[tuple[str, _Result]], definitions: SpillMap, waiting: SpillMap
) -> Iterator[TestRecord]:
    found = definitions.get_many(test_id for test_id, _ in batch)
    for test_id, result in batch:
        matches = found.get(test_id)
        if matches:
            yield _record(result, _Definition(*matches[0]))
        else:
            waiting.add(test_id, result)
    batch.clear()


def _join_definitions(
    batch: list[tuple[str, _Definition]], waiting: SpillMap
) -> Iterator[TestRecord]:
    found = waiting.pop_many(test_id for test_id, _ in batch)
    for test_id, definition in batch:
        for result in found.pop(test_id, ()):
            yield _record(_Result(*result), definition)
    batch.clear()


def _kind(name: str) -> str:
    if name in RESULTS:
        return "result"
    if name in DEFINITIONS:
        return "definition"
    if name == "Results":
        return "results"
    if name == "TestDefinitions":
        return "definitions"
    return "released" if name in RELEASED else ""


def _results(
    elem: etree._Element, parent_id: str, parent_display: str
) -> Iterator[tuple[str, _Result]]:
    """(testId, result) for `elem`, or for each of its inner results when it has any."""
    get = elem.get
    test_id = get("testId") or parent_id
    display = get("testName") or ""
    row = get("dataRowInfo")
    if row and (not display or display == parent_display):
        display = f"{display or parent_display} (Data Row {row})"
    inner = xmlstream.child(elem, "InnerResults")
    if inner is not None and len(inner):
        for sub in inner:
            if xmlstream.local(sub.tag) in RESULTS:
                yield from _results(sub, test_id, display)
        return
    outcome = OUTCOMES.get((get("outcome") or "").lower(), Outcome.SKIPPED)
    message = stack = stdout = stderr = debug = ""
    output_elem = xmlstream.child(elem, "Output")
    if output_elem is not None:
        for part in output_elem:
            kind = xmlstream.local(part.tag)
            if kind == "ErrorInfo":
                message = xmlstream.text(xmlstream.child(part, "Message"))
                stack = xmlstream.text(xmlstream.child(part, "StackTrace"))
            elif kind == "StdOut":
                stdout = xmlstream.text(part)
            elif kind == "StdErr":
                stderr = xmlstream.text(part)
            elif kind == "DebugTrace":
                debug = xmlstream.text(part)
    output = "\n".join(p.strip("\r\n") for p in (stack, stdout, stderr, debug) if p.strip())
    yield (
        test_id,
        _Result(
            display=display[:NAME_LIMIT],
            outcome=int(outcome),
            duration_ms=timespan_ms(get("duration")),
            started=get("startTime") or "",
            message=clip(message.strip(), MESSAGE_LIMIT),
            output=clip(output, OUTPUT_LIMIT),
        ),
    )


def _definition(elem: etree._Element) -> tuple[str, _Definition]:
    method_elem = xmlstream.child(elem, "TestMethod")
    classname = method = file = ""
    if method_elem is not None:
        classname = clr_type(method_elem.get("className") or "")
        method = method_elem.get("name") or ""
        file = method_elem.get("codeBase") or ""
    return elem.get("id") or "", _Definition(
        classname=classname[:NAME_LIMIT],
        method=(method or elem.get("name") or "")[:NAME_LIMIT],
        file=(file or elem.get("storage") or "")[:NAME_LIMIT],
    )


def _record(result: _Result, definition: _Definition | None) -> TestRecord:
    if definition is None:
        classname, name, file = "", result.display, ""
    else:
        classname, file = definition.classname, definition.file
        name = test_name(definition.method, result.display, classname)
    return TestRecord(
        name=name[:NAME_LIMIT],
        outcome=Outcome(result.outcome),
        classname=classname,
        file=file,
        duration_ms=result.duration_ms,
        started_at=timestamp(result.started),
        message=result.message,
        output=result.output,
    )


def timespan_ms(text: str | None) -> int | None:
    """A .NET TimeSpan (`00:00:01.5000000`, `1.02:03:04.5`) in ms; None when unreadable.

    values.seconds_to_ms reads plain seconds only, so TRX needs its own reader."""
    if not text:
        return None
    match = _TIMESPAN.match(text)
    if match is None:
        return None
    days, hours, minutes, seconds, fraction = match.groups()
    total = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return round(total * 1000 + micros / 1000)
