"""RSpec `--format json` documents (`{"version", "messages", "seed", "examples", "summary"}`).

Mapping (FORMATS.md §8):
  - One record per item of `examples`.
  - classname = `full_description` minus the trailing ` description`: the example group chain
    (`CheckEnvVars#call when all env vars are defined`). The file alone would merge examples
    of the same description in different groups of one file; the chain does not. When the
    description is not a suffix of the full description, classname is "" and the name is the
    full description. name = `description`; file = `file_path`; line = `line_number`.
  - status passed → passed, failed → failed, pending → skipped (anything else → failed).
  - duration = `run_time` seconds → ms; no start time per example.
  - message = `exception.class: exception.message` (or `pending_message` for a pending
    example); output = `exception.backtrace`, one frame a line.
  - `summary.errors_outside_of_examples_count` > 0 (a spec file that failed to load, an error
    in a `before(:suite)` hook) → one ERROR record named `[errors outside of examples]`
    carrying the top-level `messages`, so a run that could not load half its specs does not
    look green.
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

STATUSES = {"passed": Outcome.PASSED, "failed": Outcome.FAILED, "pending": Outcome.SKIPPED}
OUTSIDE = "[errors outside of examples]"
_FIRST_KEY = re.compile(rb'\A\{\s*"(\w+)"\s*:')


def sniff(head: bytes) -> bool:
    first = _FIRST_KEY.match(head)
    return (
        first is not None
        and first.group(1) in (b"version", b"messages", b"seed", b"examples")
        and re.search(rb'"examples"\s*:\s*\[', head) is not None
    )


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    messages: list[str] = []
    size = 0
    for path, item in items(stream, ("examples.item", "messages.item", "summary")):
        if path == "examples.item":
            if isinstance(item, dict):
                yield _example(item)
        elif path == "messages.item":
            if size < OUTPUT_LIMIT:  # bounded: a document could carry any number of them
                text = str(item)
                messages.append(text)
                size += len(text)
        elif isinstance(item, dict):
            outside = item.get("errors_outside_of_examples_count")
            if isinstance(outside, int | float) and outside > 0:
                text = "\n".join(messages)
                yield TestRecord(
                    name=OUTSIDE,
                    outcome=Outcome.ERROR,
                    message=clip(text.strip() or f"{int(outside)} error(s)", MESSAGE_LIMIT),
                    output=clip(text, OUTPUT_LIMIT),
                )


def _example(item: dict[str, Any]) -> TestRecord:
    description = str(item.get("description") or "")
    full = str(item.get("full_description") or description)
    if description and full.endswith(description):
        classname, name = full[: -len(description)].rstrip(), description
    else:
        classname, name = "", full
    outcome = STATUSES.get(str(item.get("status")), Outcome.FAILED)
    message = output = ""
    exception = item.get("exception")
    if isinstance(exception, dict):
        kind = str(exception.get("class") or "")
        text = str(exception.get("message") or "")
        message = f"{kind}: {text}" if kind and text else kind or text
        backtrace = exception.get("backtrace")
        if isinstance(backtrace, list):
            output = "\n".join(str(frame) for frame in backtrace)
    if outcome is Outcome.SKIPPED and not message:
        message = str(item.get("pending_message") or "")
    line = item.get("line_number")
    run_time = item.get("run_time")
    return TestRecord(
        name=name[:NAME_LIMIT],
        outcome=outcome,
        classname=classname[:NAME_LIMIT],
        file=str(item.get("file_path") or "")[:NAME_LIMIT],
        line=int(line) if isinstance(line, int | float) and not isinstance(line, bool) else None,
        duration_ms=(
            ms_to_ms(run_time * 1000)
            if isinstance(run_time, int | float) and not isinstance(run_time, bool)
            else None
        ),
        message=clip(message.strip(), MESSAGE_LIMIT),
        output=clip(output, OUTPUT_LIMIT),
    )
