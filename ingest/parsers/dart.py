"""`dart test --reporter json` (also `flutter test --machine`) event streams.

Mapping (FORMATS.md §8):
  - One record per `testDone`, in the order tests finished. Events link by ids: `testStart`
    carries the test (name, suiteID, line), `suite` the file path, `error`/`print` and
    `testDone` the testID.
  - classname = file = the suite's path with `\\` turned into `/` (the same test file run on
    Windows and Linux is one test); name = the test name as Dart prints it, group names
    included (`Test 1 Test 1.1 Failing test`); line = `root_line` (the line in the suite file
    when the test is declared through a helper) else `line`.
  - Tests with `hidden: true` (the "loading …" pseudo-tests of a suite that loaded fine) are
    dropped. A loading test that failed is not hidden and is kept: it is how a compile error
    shows up.
  - outcome: `skipped: true` (or `metadata.skip`) → skipped; result success → passed, failure →
    failed, error → error.
  - duration = testDone.time − testStart.time (ms since the run began); no wall-clock start
    (the stream has none), so started_at stays empty.
  - message = the first `error` event's text (the skip reason for a skip); output = the error
    events' stack traces, then the test's `print` messages, capped at OUTPUT_LIMIT.
  - timeline = the suite path: each test file runs in its own isolate, one test after another,
    while files run concurrently and their events interleave.
  - A test started but never done (a cut stream) is failed, at the end.
  - Lines that are not JSON are skipped (see ingest.parsers.ndjson); invalid UTF-8 or a stream
    with no JSON object is refused with line and column.

Memory: the suites' paths and the tests currently running (Dart interleaves suites).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ingest.parsers.ndjson import EventLines, sniff_lines
from ingest.parsers.records import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    Outcome,
    TestRecord,
    clip,
)
from ingest.parsers.values import ms_to_ms

RESULTS = {"success": Outcome.PASSED, "failure": Outcome.FAILED, "error": Outcome.ERROR}
EVENT_TYPES = rb"start|suite|testStart|group|allSuites|print|error|testDone|done|debug"
CUT = "the test has no result: the stream ended before it finished"

_EVENT = re.compile(rb'"type"\s*:\s*"(?:' + EVENT_TYPES + rb')"')
_DART = re.compile(rb'"(?:protocolVersion|testID|suiteID)"\s*:|"(?:suite|test|group)"\s*:\s*\{')


@dataclass(slots=True)
class _Test:
    name: str
    suite: str
    line: int | None
    start: Any
    skip: bool
    message: str = ""
    output: list[str] = field(default_factory=list)
    size: int = 0

    def add(self, text: str) -> None:
        if self.size < OUTPUT_LIMIT and text:
            self.output.append(text.rstrip("\n"))
            self.size += len(text) + 1


def sniff(head: bytes) -> bool:
    return sniff_lines(head, lambda line: bool(_EVENT.search(line) and _DART.search(line)))


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    suites: dict[Any, str] = {}
    running: dict[Any, _Test] = {}
    for _, event in EventLines(stream):
        kind = event.get("type")
        if kind == "testStart":
            test = event.get("test")
            if not isinstance(test, dict):
                continue
            metadata = test.get("metadata")
            if not isinstance(metadata, dict):
                metadata = {}
            line = test.get("root_line") if test.get("root_line") is not None else test.get("line")
            running[test.get("id")] = _Test(
                name=str(test.get("name") or "")[:NAME_LIMIT],
                suite=suites.get(test.get("suiteID"), ""),
                line=line if isinstance(line, int) and not isinstance(line, bool) else None,
                start=event.get("time"),
                skip=bool(metadata.get("skip")),
                message=str(metadata.get("skipReason") or "") if metadata.get("skip") else "",
            )
        elif kind == "testDone":
            test = running.pop(event.get("testID"), None)
            if test is None or event.get("hidden") is True:
                continue
            if event.get("skipped") is True or test.skip:
                outcome = Outcome.SKIPPED
            else:
                outcome = RESULTS.get(str(event.get("result")), Outcome.ERROR)
            yield _record(test, outcome, _elapsed(test.start, event.get("time")))
        elif kind == "error":
            test = running.get(event.get("testID"))
            if test is not None:
                if not test.message:
                    test.message = str(event.get("error") or "")
                else:
                    test.add(str(event.get("error") or ""))
                test.add(str(event.get("stackTrace") or ""))
        elif kind == "print":
            test = running.get(event.get("testID"))
            if test is not None:
                text = str(event.get("message") or "")
                test.add(text)
        elif kind == "suite":
            suite = event.get("suite")
            if isinstance(suite, dict):
                suites[suite.get("id")] = str(suite.get("path") or "").replace("\\", "/")
    for test in running.values():
        test.message = f"{CUT}\n{test.message}" if test.message else CUT
        yield _record(test, Outcome.FAILED, None)


def _elapsed(start: Any, end: Any) -> int | None:
    if isinstance(start, int | float) and isinstance(end, int | float):
        return ms_to_ms(end - start)
    return None


def _record(test: _Test, outcome: Outcome, duration: int | None) -> TestRecord:
    suite = test.suite[:NAME_LIMIT]
    return TestRecord(
        name=test.name,
        outcome=outcome,
        classname=suite,
        file=suite,
        line=test.line,
        duration_ms=duration,
        timeline=suite,
        message=clip(test.message.strip(), MESSAGE_LIMIT),
        output=clip("\n".join(test.output), OUTPUT_LIMIT),
    )
