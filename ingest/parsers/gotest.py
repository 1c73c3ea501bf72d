"""`go test -json` (test2json) event streams, including gotestsum `--rerun-fails` output.

Mapping (FORMATS.md §7):
  - classname = `Package` (the import path), name = `Test` exactly as Go names it: subtests stay
    `Parent/sub` (spaces already `_`, duplicates `#01`). file and line stay empty.
  - One record per test attempt, yielded at its final action (`pass`, `fail`, `skip`), so records
    come in the order attempts finished. A rerun later in the stream (gotestsum) is simply a
    later attempt of the same identity.
  - duration = `Elapsed` seconds → ms; started_at = the `Time` of the test's `run` event.
  - timeline = the package: each package is its own test binary (a separate process), and the
    packages run in parallel, so one package is one worker order.
  - message (failed and skipped tests) = the test's own output without Go's framing lines
    (`=== RUN`, `--- FAIL: …`, `=== PAUSE/CONT/NAME/ATTR`); output = the test's whole output,
    kept only when it has such own lines (a plain pass carries none). Output is attributed by
    the `Test` field, never by position, because parallel tests interleave; at most
    OUTPUT_LIMIT characters a test.
  - `attr` events (Go 1.25 `t.Attr`) → properties.
  - **Parents and subtests are not double counted.** A test that had subtests in the stream is
    emitted only when it failed and either none of its subtests failed (it failed on its own) or
    it printed output of its own besides the framing lines (a failure of its own next to its
    subtests'). A parent that passed or was skipped, or failed only because a subtest failed, is
    represented by its subtests and not emitted.
  - A test with a `run` but no final action — the binary panicked, timed out or the stream was
    cut — is failed, emitted when its package ends (or at the end of the stream).
  - Build failures: Go ≥1.24 `build-output`/`build-fail` events (keyed by `ImportPath`) and the
    package `fail` naming them in `FailedBuild`, or an older stream's package output
    `FAIL pkg [build failed]` → one ERROR record per package named `[build failed]` (`[setup
    failed]` likewise) with the build output as message. A package-level `fail` with no failed
    test (a panic outside a test, TestMain exiting, a timeout) → one ERROR record
    `[package failed]` with the package's output as message.
  - Lines that are not JSON (stray stdout/stderr merged into the stream) are skipped and leave
    no record (see ingest.parsers.ndjson; the stream is refused only when no line is JSON).
    Invalid UTF-8 is refused with its line and column.

Memory: the tests currently running (Go interleaves parallel tests) and one output buffer per
package, each capped at OUTPUT_LIMIT; never the whole stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from ingest.parsers.isotime import timestamp
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

FINAL = {"pass": Outcome.PASSED, "fail": Outcome.FAILED, "skip": Outcome.SKIPPED}
PROPERTY_LIMIT = 50
CUT = "the test has no result: its binary exited, timed out or the stream was cut"

_FRAMING = re.compile(r"^\s*(?:=== (?:RUN|PAUSE|CONT|NAME|ATTR)\b|--- (?:PASS|FAIL|SKIP):)")
_HEAD = re.compile(rb'^\s*\{\s*"(?:Time|Action|Package|ImportPath|Test)"\s*:')
_ACTION = re.compile(rb'"Action"\s*:\s*"[a-z-]+"')


@dataclass(slots=True)
class _Buffer:
    """Captured text capped at OUTPUT_LIMIT characters, with the non-framing part kept apart."""

    parts: list[str] = field(default_factory=list)
    size: int = 0
    own: list[str] = field(default_factory=list)
    own_size: int = 0
    cut: bool = False

    def add(self, text: str) -> None:
        if self.size < OUTPUT_LIMIT:
            self.parts.append(text)
            self.size += len(text)
        else:
            self.cut = True
        if self.own_size < MESSAGE_LIMIT and not _FRAMING.match(text):
            self.own.append(text)
            self.own_size += len(text)

    def text(self) -> str:
        joined = "".join(self.parts)
        return clip(joined + "\n[... truncated]" if self.cut else joined, OUTPUT_LIMIT)

    def own_text(self) -> str:
        return clip("".join(self.own).strip(), MESSAGE_LIMIT)


@dataclass(slots=True)
class _Test:
    name: str
    started_at: datetime | None = None
    output: _Buffer = field(default_factory=_Buffer)
    has_children: bool = False
    child_failed: bool = False
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Package:
    tests: dict[str, _Test] = field(default_factory=dict)  # running tests, in run order
    output: _Buffer = field(default_factory=_Buffer)
    failed: int = 0  # failed test records since the package last ended


def sniff(head: bytes) -> bool:
    return sniff_lines(head, lambda line: bool(_HEAD.match(line) and _ACTION.search(line)))


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    packages: dict[str, _Package] = {}
    builds: dict[str, _Buffer] = {}  # ImportPath -> build output, for build-fail events
    failed_builds: dict[str, bool] = {}  # ImportPath -> already reported
    for _, event in EventLines(stream):
        action = event.get("Action")
        if not isinstance(action, str):
            continue
        if action in ("build-output", "build-fail"):
            path = str(event.get("ImportPath") or "")
            if action == "build-output":
                builds.setdefault(path, _Buffer()).add(str(event.get("Output") or ""))
            else:
                failed_builds.setdefault(path, False)
            continue
        package_name = str(event.get("Package") or "")
        package = packages.get(package_name)
        if package is None:
            package = packages[package_name] = _Package()
        test_name = event.get("Test")
        if not test_name:
            if action == "output":
                package.output.add(str(event.get("Output") or ""))
            elif action in FINAL:
                yield from _end_package(package_name, package, event, builds, failed_builds)
            continue
        test_name = str(test_name)
        test = package.tests.get(test_name)
        if action == "run":
            if test is not None:  # run again without a result for the previous run
                yield from _finish(package_name, package, test, Outcome.FAILED, None, CUT)
            test = _Test(name=test_name, started_at=timestamp(event.get("Time")))
            package.tests[test_name] = test
            _mark_ancestors(package, test_name, failed=False)
            continue
        if action == "output":
            if test is not None:
                test.output.add(str(event.get("Output") or ""))
            else:
                # test2json sometimes attributes output to a test that already ended; opening
                # the test again would report a phantom failure at the package's end.
                package.output.add(str(event.get("Output") or ""))
        elif action in FINAL:
            if test is None:  # a result whose run event is not in the stream
                test = package.tests[test_name] = _Test(name=test_name)
            elapsed = event.get("Elapsed")
            duration = ms_to_ms(elapsed * 1000) if isinstance(elapsed, int | float) else None
            yield from _finish(package_name, package, test, FINAL[action], duration, "")
        elif action == "attr" and test is not None:
            key = str(event.get("Key") or "")
            if key and len(test.properties) < PROPERTY_LIMIT:
                test.properties[key[:NAME_LIMIT]] = str(event.get("Value") or "")[:NAME_LIMIT]
    for package_name, package in packages.items():
        yield from _close_running(package_name, package)
    for path, reported in failed_builds.items():
        if not reported:
            yield _build_failure(path.split(" ")[0], builds.get(path), None, "[build failed]")


def _mark_ancestors(package: _Package, name: str, *, failed: bool) -> None:
    """Tell the running parents of subtest `name` that they have a subtest (that failed)."""
    index = name.rfind("/")
    while index > 0:
        parent = package.tests.get(name[:index])
        if parent is not None:
            parent.has_children = True
            if failed:
                parent.child_failed = True
        index = name.rfind("/", 0, index)


def _finish(
    package_name: str,
    package: _Package,
    test: _Test,
    outcome: Outcome,
    duration: int | None,
    note: str,
) -> Iterator[TestRecord]:
    del package.tests[test.name]
    failed = outcome is Outcome.FAILED
    if failed:
        _mark_ancestors(package, test.name, failed=True)
    own = test.output.own_text()
    if test.has_children and not (failed and (not test.child_failed or own)):
        return  # represented by its subtests
    if failed:
        package.failed += 1
    message = "" if outcome is Outcome.PASSED else own
    if note:
        message = f"{note}\n{own}" if own else note
    yield TestRecord(
        name=test.name[:NAME_LIMIT],
        outcome=outcome,
        classname=package_name[:NAME_LIMIT],
        duration_ms=duration,
        timeline=package_name[:NAME_LIMIT],
        started_at=test.started_at,
        message=clip(message, MESSAGE_LIMIT),
        output=test.output.text() if own or note else "",
        properties=test.properties,
    )


def _close_running(package_name: str, package: _Package) -> Iterator[TestRecord]:
    """Fail the tests still running when their package ended: deepest first, so a parent sees
    its cut subtests before it is judged."""
    running = sorted(package.tests.values(), key=lambda t: -t.name.count("/"))
    for test in running:
        yield from _finish(package_name, package, test, Outcome.FAILED, None, CUT)


def _end_package(
    package_name: str,
    package: _Package,
    event: dict[str, Any],
    builds: dict[str, _Buffer],
    failed_builds: dict[str, bool],
) -> Iterator[TestRecord]:
    yield from _close_running(package_name, package)
    if event.get("Action") == "fail":
        failed_build = event.get("FailedBuild")
        text = package.output.own_text()
        if failed_build:
            failed_build = str(failed_build)
            failed_builds[failed_build] = True
            yield _build_failure(package_name, builds.get(failed_build), package, "[build failed]")
        elif package.failed == 0:
            if "[build failed]" in text:
                name = "[build failed]"
            elif "[setup failed]" in text:
                name = "[setup failed]"
            else:
                name = "[package failed]"
            yield _build_failure(package_name, None, package, name)
    package.output = _Buffer()
    package.failed = 0


def _build_failure(
    package_name: str, build: _Buffer | None, package: _Package | None, name: str
) -> TestRecord:
    source = build if build is not None and build.parts else (package.output if package else None)
    message = source.own_text() if source is not None else ""
    return TestRecord(
        name=name,
        outcome=Outcome.ERROR,
        classname=package_name[:NAME_LIMIT],
        timeline=package_name[:NAME_LIMIT],
        message=message,
        output=source.text() if source is not None else "",
    )
