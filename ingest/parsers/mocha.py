"""mocha `--reporter json` documents (`{"stats", "tests", "pending", "failures", "passes"}`).

Mapping (FORMATS.md §8):
  - One record per item of `tests`: `passes`, `failures` and `pending` repeat the same tests and
    are not read as tests.
  - classname = `fullTitle` minus the trailing ` title`: the describe chain (`Test 1 Test 1.1`),
    "" for a test outside any describe; name = `title`; file = `file` as mocha wrote it.
  - outcome: a non-empty `err` → failed; an empty `err` and no `duration` → skipped (mocha
    writes no duration for a pending test, and nothing else marks it inside `tests`); otherwise
    passed. mocha distinguishes no assertion failure from an exception, so there is no error.
  - `currentRetry: n` on the final attempt means n earlier attempts failed (mocha `retries`):
    they are emitted first as failed records with no duration and the message "failed before
    retry", so flakiness stays visible; mocha does not record their details.
  - duration = `duration` ms; message = `err.message` (else the first line of `err.stack`);
    output = `err.stack`. No start time per test.
  - A failed hook (`"before all" hook for …`) appears only in `failures` — the tests it
    prevented are in no array at all — so each hook failure becomes an ERROR record with its
    own title and classname, to not lose the failure.
Parsing streams the document with ijson; see ingest.parsers.jsonstream for error positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from ingest.parsers.jsonstream import items
from ingest.parsers.records import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    Outcome,
    TestRecord,
    clip,
)
from ingest.parsers.values import ms_to_ms

RETRY_MESSAGE = "failed before retry"
_HOOK = re.compile(r'^"(?:before|after) (?:all|each)" hook')
_FIRST_KEY = re.compile(rb'\A\{\s*"(\w+)"\s*:')


def sniff(head: bytes) -> bool:
    first = _FIRST_KEY.match(head)
    if first is None:
        return False
    if first.group(1) == b"stats":
        return re.search(rb'"(?:tests|passes|pending|failures)"\s*:\s*\[', head) is not None
    return (
        first.group(1) in (b"tests", b"passes", b"failures", b"pending")
        and re.search(rb'"stats"\s*:\s*\{', head) is not None
        and re.search(rb'"fullTitle"\s*:', head) is not None
    )


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    for path, item in items(stream, ("tests.item", "failures.item")):
        if not isinstance(item, dict):
            continue
        if path == "tests.item":
            yield from _test(item)
        elif _HOOK.match(str(item.get("title") or "")):
            record = _record(item, Outcome.ERROR)
            yield record


def _test(item: dict[str, Any]) -> Iterator[TestRecord]:
    err = item.get("err")
    if isinstance(err, dict) and err:
        outcome = Outcome.FAILED
    elif item.get("duration") is None:
        outcome = Outcome.SKIPPED
    else:
        outcome = Outcome.PASSED
    retries = item.get("currentRetry")
    if isinstance(retries, int | float) and not isinstance(retries, bool) and retries > 0:
        for _ in range(min(int(retries), 100)):
            failed = _record(item, Outcome.FAILED)
            failed.duration_ms = None
            failed.message = RETRY_MESSAGE
            failed.output = ""
            yield failed
    yield _record(item, outcome)


def _record(item: dict[str, Any], outcome: Outcome) -> TestRecord:
    title = str(item.get("title") or "")
    full = str(item.get("fullTitle") or title)
    classname = full[: -len(title)].rstrip() if title and full.endswith(title) else ""
    err = item.get("err")
    if not isinstance(err, dict):
        err = {}
    stack = str(err.get("stack") or "")
    message = str(err.get("message") or "") or stack.split("\n", 1)[0]
    return TestRecord(
        name=title[:NAME_LIMIT],
        outcome=outcome,
        classname=classname[:NAME_LIMIT],
        file=str(item.get("file") or "")[:NAME_LIMIT],
        duration_ms=ms_to_ms(item.get("duration")),
        message=clip(message.strip(), MESSAGE_LIMIT) if outcome is not Outcome.PASSED else "",
        output=clip(stack, OUTPUT_LIMIT) if outcome is not Outcome.PASSED else "",
    )
