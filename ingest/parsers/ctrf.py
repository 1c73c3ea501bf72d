"""CTRF (Common Test Report Format) JSON, the current 1.0 spec and the legacy reporter output.

Reading rules (FORMATS.md §6, schemas/ctrf.schema.json):

* Shape: a JSON object whose `results.tests` is an array. `reportFormat`/`specVersion` are not
  required (legacy documents lack them); `results.summary`, `environment` and everything else is
  ignored and may come before or after the tests.
* Identity: `name`; `suite` as an array path (1.0) or a legacy "file > describe" string, joined
  " / "; `filePath` and `line`. CTRF has no classname, so classname stays "" and identity falls
  back to the file path, then the suite path (ingest.identity).
* Outcome: passed -> passed, failed -> failed, skipped and pending -> skipped. `other` (the spec's
  bucket for statuses a runner could not map, e.g. interrupted) is also read as skipped: it is
  neither a verdict of success nor of failure, so it must not move pass or failure rates. A status
  outside the spec's enum, or none, is treated like `other`. Whenever the outcome is not the
  literal status, the raw value is kept in the record's properties as "ctrf.status".
* duration is milliseconds (else stop - start); `start` (epoch ms) is started_at; `threadId` is
  the timeline; message is `message`, else the first line of `trace`; output is `trace`, then the
  `stdout` and `stderr` lines.
* Attempts. `retryAttempts` lists executions with `attempt` numbers starting at 1 for the first
  run; in both spec examples it includes the final execution (retries=N with N+1 entries, the last
  one's status equal to the test's). The entries are taken in attempt order; the last entry is the
  final execution when there are more entries than `retries`, or (without `retries`) when its
  status equals the test's. Every earlier entry becomes one record with its own status,
  duration, start, message and trace. The final record carries the test's status (the spec's
  "final outcome"), message and output; its duration and start come from the final entry when
  there is one, because the test-level values may span all attempts.
* Legacy `retries` / `flaky` without `retryAttempts`: the spec defines `retries` as the number of
  retry attempts performed and `flaky` as "passed after one or more failed attempts", and a
  runner only retries after a failure. So a passed or failed test with retries=N had N earlier
  failed executions, yielded as FAILED records (no duration, message or output known; property
  "ctrf.inferred_attempt" = "true") before the final record; a flaky test without a usable
  `retries` had at least one. Skipped, pending and other tests get no inferred attempts.
* Properties: `type`, `browser`, `device`, `rawStatus`, `tags` and scalar `labels`, clipped like
  the JUnit ones (1 KB a value, PROPERTIES_LIMIT a record).

Streaming: ijson's push interface is fed 64 KB blocks, so memory is bounded by one test plus one
block; the tests array is never buffered. A UTF-8 BOM is dropped.

Errors: invalid UTF-8 -> `malformed_json` at the exact byte. Invalid or truncated JSON ->
`malformed_json`; the position comes from the context yajl quotes around the error, located in
the block being parsed: it is the last character the parser read (the offending character or the
end of the offending token), or the end of the data for a truncated file. When that 60-byte
context occurs more than once in the block, the position is left out rather than guessed.
Lines and columns are 1-based; columns count characters, not bytes, and ignore the BOM.
Valid JSON without `results.tests` as an array -> `not_ctrf`, saying what is missing; so is a
test that is not an object or lacks a non-empty `name` or `status` string (the schema requires
both), naming its index. A test's other fields are read leniently: a missing `duration` is
unknown, an unknown status is skipped.
"""

from __future__ import annotations

import ast
import codecs
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from ingest.parsers.records import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    Outcome,
    ParseError,
    TestRecord,
    clip,
)
from ingest.parsers.values import epoch_ms_to_datetime, ms_to_ms

PROPERTIES_LIMIT = 8 * 1024
PROPERTY_VALUE_LIMIT = 1024
INFERRED_ATTEMPT = "ctrf.inferred_attempt"

_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
_STATUSES = {
    "passed": Outcome.PASSED,
    "failed": Outcome.FAILED,
    "skipped": Outcome.SKIPPED,
    "pending": Outcome.SKIPPED,
    "other": Outcome.SKIPPED,
}
_VERBATIM = ("passed", "failed", "skipped")  # statuses whose outcome says it all
_VERDICTS = (Outcome.PASSED, Outcome.FAILED)  # final outcomes after which retries can be inferred
_REPORT_FORMAT = re.compile(rb'"reportFormat"\s*:\s*"CTRF"')
_SCALAR_PROPERTIES = ("type", "browser", "device", "rawStatus")


def sniff(head: bytes) -> bool:
    if not head.startswith(b"{"):
        return False
    if _REPORT_FORMAT.search(head):
        return True
    if b'"results"' not in head:
        return False
    if b'"stats"' in head and b'"passes"' in head:
        return False  # mocha --reporter json
    if b'"examples"' in head:
        return False  # rspec --format json
    return b'"tool"' in head or b'"tests"' in head


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    reader = _Reader(stream)
    tests = ijson.sendable_list()
    tests_parser = ijson.items_coro(tests, "results.tests.item", use_float=True)
    shape = _Shape()
    index = 0
    try:
        for chunk in reader.blocks():
            tests_parser.send(chunk)
            shape.send(chunk)
            for test in tests:
                yield from _records(_checked(test, index))
                index += 1
            del tests[:]
        tests_parser.close()  # a truncated document fails here
    except ijson.JSONError as exc:
        raise reader.syntax_error(exc) from None
    for test in tests:
        yield from _records(_checked(test, index))
        index += 1
    shape.finish()


def _checked(test: Any, index: int) -> dict[str, Any]:
    """A test as the CTRF schema requires it: an object with a `name` and a `status` string."""
    where = f"results.tests[{index}]"
    if type(test) is not dict:
        raise ParseError("not_ctrf", f"{where} is not an object, so this is not CTRF")
    for field in ("name", "status"):
        value = test.get(field)
        if type(value) is not str or not value.strip():
            raise ParseError(
                "not_ctrf", f"{where} has no `{field}` string (CTRF requires one on every test)"
            )
    return test


# --- input: BOM, UTF-8 validation and positions -------------------------------------------------


class _Reader:
    """Reads the stream in blocks, drops a BOM, validates UTF-8 and can say where a byte is."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._block = b""
        self._line = 1  # line at the start of the current block
        self._column = 0  # characters between the last newline and the start of the block

    def blocks(self) -> Iterator[bytes]:
        first = True
        while True:
            data = self._stream.read(_CHUNK)
            if first:
                first = False
                while len(data) < len(_BOM) and data and _BOM.startswith(data):
                    more = self._stream.read(_CHUNK)
                    if not more:
                        break
                    data += more
                data = data.removeprefix(_BOM)
            if not data:
                self._check_utf8(b"", final=True)
                return
            self._advance()
            self._block = data
            self._check_utf8(data, final=False)
            yield data

    def _advance(self) -> None:
        block = self._block
        newlines = block.count(b"\n")
        if newlines:
            self._line += newlines
            self._column = _characters(block[block.rfind(b"\n") + 1 :])
        else:
            self._column += _characters(block)

    def _check_utf8(self, data: bytes, *, final: bool) -> None:
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            line, column = self._where(exc.start - pending)
            bad = exc.object[exc.start : exc.end].hex(" ")
            raise ParseError(
                "malformed_json",
                f"the file is not valid UTF-8 (bytes {bad})",
                line=line,
                column=column,
            ) from None

    def _where(self, offset: int) -> tuple[int, int]:
        """1-based line and column of byte `offset` of the current block (negative: the bytes
        carried over from the previous block, which are the start of one character)."""
        if offset < 0:
            return self._line, max(self._column, 1)
        before = self._block[:offset]
        newlines = before.count(b"\n")
        if newlines:
            return self._line + newlines, _characters(before[before.rfind(b"\n") + 1 :]) + 1
        return self._line, self._column + _characters(before) + 1

    def syntax_error(self, exc: Exception) -> ParseError:
        first, context = _yajl_message(exc)
        if "premature EOF" in first:
            line, column = self._where(len(self._block))
            return ParseError(
                "malformed_json",
                "the JSON ends too early (a truncated file?)",
                line=line,
                column=column,
            )
        offset = _locate(context, self._block) if context is not None else None
        where: tuple[int | None, int | None] = (None, None)
        if offset is not None:
            where = self._where(max(offset - 1, 0))
        return ParseError(
            "malformed_json", f"the JSON is not valid: {first}", line=where[0], column=where[1]
        )


def _characters(data: bytes) -> int:
    """Characters in valid UTF-8: every byte that does not continue a character starts one."""
    return len(data.translate(None, _CONTINUATION_BYTES))


def _yajl_message(exc: Exception) -> tuple[str, bytes | None]:
    """yajl's one-line message and the context line it quotes (the error at index 40)."""
    text = str(exc)
    if text[:2] in ("b'", 'b"'):
        # ijson could not decode yajl's message (the context cut a character); it gave repr().
        try:
            raw: bytes = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text, None
    else:
        raw = text.encode("utf-8", "surrogateescape")
    lines = raw.split(b"\n")
    first = lines[0].decode("utf-8", "replace").strip()
    return first, (lines[1] if len(lines) > 2 else None)


def _locate(context: bytes, block: bytes) -> int | None:
    """The offset yajl stopped at within `block`, from its quoted context; None if ambiguous.

    yajl writes `pad` spaces and then block[offset-30 : offset+30] with CR/LF as spaces, where
    pad is 10, or 40 - offset near the start of the block, so the offset sits at index 40."""
    flat = block.replace(b"\n", b" ").replace(b"\r", b" ")
    found: set[int] = set()
    for offset in range(min(30, len(flat) + 1)):
        pad = 40 - offset
        if context == b" " * pad + flat[: offset + 30]:
            found.add(offset)
    body = context[10:]
    if context.startswith(b" " * 10) and body:
        at = flat.find(body)
        while at >= 0:
            offset = at + 30
            if offset <= len(flat) and flat[at : offset + 30] == body:
                found.add(offset)
            at = flat.find(body, at + 1)
    return found.pop() if len(found) == 1 else None


# --- shape --------------------------------------------------------------------------------------


class _Shape:
    """Follows the parse events only until `results.tests` is known to be an array."""

    _VALUES = ("start_array", "start_map", "string", "number", "boolean", "null")

    def __init__(self) -> None:
        self._events = ijson.sendable_list()
        self._parser: Any = ijson.parse_coro(self._events)
        self._first = True
        self._results = False
        self.confirmed = False

    def send(self, chunk: bytes) -> None:
        if self.confirmed:
            return
        self._parser.send(chunk)
        for prefix, event, _value in self._events:
            if self._first:
                self._first = False
                if event != "start_map":
                    raise ParseError("not_ctrf", "the JSON is not an object, so it is not CTRF")
            if prefix == "results":
                if event == "start_map":
                    self._results = True
                elif event in self._VALUES:
                    raise ParseError("not_ctrf", "`results` is not an object, so this is not CTRF")
                elif event == "end_map":
                    raise ParseError("not_ctrf", "`results` has no `tests` array; not CTRF")
            elif prefix == "results.tests" and event in self._VALUES:
                if event != "start_array":
                    raise ParseError("not_ctrf", "`results.tests` is not an array; not CTRF")
                self.confirmed = True
                self._parser = None  # the rest of the document needs no shape checks
                break
        del self._events[:]

    def finish(self) -> None:
        if self.confirmed:
            return
        if self._results:
            raise ParseError("not_ctrf", "`results` has no `tests` array; not CTRF")
        raise ParseError("not_ctrf", "the JSON object has no `results`, so it is not CTRF")


# --- records ------------------------------------------------------------------------------------


def _records(test: dict[str, Any]) -> Iterator[TestRecord]:
    get = test.get
    status = get("status")
    key = _status_key(status)
    outcome = _STATUSES.get(key, Outcome.SKIPPED)
    properties = _properties(test, key, status)
    name, file, thread = get("name"), get("filePath"), get("threadId")
    base = TestRecord(
        name=(name if type(name) is str else _text(name))[:NAME_LIMIT],
        outcome=outcome,
        suite=_suite(get("suite")),
        file=(file if type(file) is str else _text(file))[:NAME_LIMIT],
        line=_int(get("line")),
        duration_ms=_duration(test),
        timeline=(thread if type(thread) is str else _text(thread))[:NAME_LIMIT],
        started_at=epoch_ms_to_datetime(get("start")),
        message=_message(test),
        output=_output(test),
        properties=properties,
    )
    if get("retryAttempts") is None and not get("retries") and get("flaky") is not True:
        yield base  # the common case: one execution
        return

    entries = _attempt_entries(get("retryAttempts"))
    final_entry: dict[str, Any] | None = None
    if entries and _includes_final(entries, get("retries"), key):
        final_entry = entries.pop()
    for entry in entries:
        yield _from_entry(base, entry)
    if not entries and final_entry is None:
        for _ in range(_inferred_retries(test, outcome)):
            yield _copy(base, Outcome.FAILED, {**properties, INFERRED_ATTEMPT: "true"})
    if final_entry is not None:
        # Timing of the final execution itself; the test-level values may span all attempts.
        duration = _duration(final_entry)
        if duration is not None:
            base.duration_ms = duration
        base.started_at = epoch_ms_to_datetime(final_entry.get("start")) or base.started_at
        if not (base.message or base.output):
            base.message, base.output = _message(final_entry), _output(final_entry)
    yield base


def _attempt_entries(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    entries = [e for e in value if isinstance(e, dict)]
    numbers = [_int(e.get("attempt")) for e in entries]
    known = [n for n in numbers if n is not None]
    if len(known) == len(numbers):
        entries = [e for _, e in sorted(zip(known, entries, strict=True), key=lambda p: p[0])]
    return entries


def _includes_final(entries: list[dict[str, Any]], retries: Any, status_key: str) -> bool:
    count = _int(retries)
    if count is not None and count >= 0:
        return len(entries) > count
    return _status_key(entries[-1].get("status")) == status_key


def _inferred_retries(test: dict[str, Any], outcome: Outcome) -> int:
    if outcome not in _VERDICTS:
        return 0
    retries = _int(test.get("retries")) or 0
    if retries > 0:
        return retries
    if test.get("flaky") is True and outcome is Outcome.PASSED:
        return 1  # "passed after one or more failed attempts"
    return 0


def _from_entry(base: TestRecord, entry: dict[str, Any]) -> TestRecord:
    status = entry.get("status")
    key = _status_key(status)
    properties = dict(base.properties)
    if key in _VERBATIM:
        properties.pop("ctrf.status", None)
    else:
        properties["ctrf.status"] = clip(_text(status), PROPERTY_VALUE_LIMIT)
    record = _copy(base, _STATUSES.get(key, Outcome.SKIPPED), properties)
    record.duration_ms = _duration(entry)
    record.started_at = epoch_ms_to_datetime(entry.get("start"))
    record.message = _message(entry)
    record.output = _output(entry)
    return record


def _copy(base: TestRecord, outcome: Outcome, properties: dict[str, str]) -> TestRecord:
    return TestRecord(
        name=base.name,
        outcome=outcome,
        suite=base.suite,
        file=base.file,
        line=base.line,
        timeline=base.timeline,
        properties=properties,
    )


def _status_key(value: Any) -> str:
    return value.strip().lower() if type(value) is str else ""


def _duration(data: dict[str, Any]) -> int | None:
    duration = data.get("duration")
    if type(duration) is int and duration >= 0:
        return duration
    duration = ms_to_ms(duration)
    if duration is None:
        start, stop = ms_to_ms(data.get("start")), ms_to_ms(data.get("stop"))
        if start is not None and stop is not None and stop >= start:
            duration = stop - start
    return duration


def _message(data: dict[str, Any]) -> str:
    message = data.get("message")
    if type(message) is str and message and not message.isspace():
        return clip(message, MESSAGE_LIMIT)
    trace = data.get("trace")
    if not trace:
        return ""
    lines = (line.strip() for line in _text(trace).splitlines())
    return clip(next((line for line in lines if line), ""), MESSAGE_LIMIT)


def _output(data: dict[str, Any]) -> str:
    trace, stdout, stderr = data.get("trace"), data.get("stdout"), data.get("stderr")
    if not (trace or stdout or stderr):
        return ""
    parts = [_text(trace)]
    for lines in (stdout, stderr):
        if isinstance(lines, list):
            parts.append("\n".join(_text(line) for line in lines))
        else:
            parts.append(_text(lines))
    return clip("\n".join(p for p in parts if p and not p.isspace()), OUTPUT_LIMIT)


def _suite(value: Any) -> str:
    if type(value) is list:
        parts = [(p if type(p) is str else _text(p)).strip() for p in value]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(" > ")]  # legacy "file > describe > ..."
    else:
        parts = []
    return " / ".join(p for p in parts if p)[:NAME_LIMIT]


def _properties(test: dict[str, Any], status_key: str, status: Any) -> dict[str, str]:
    found: list[tuple[str, str]] = []
    if status_key not in _VERBATIM:
        found.append(("ctrf.status", _text(status)))
    for key in _SCALAR_PROPERTIES:
        value = test.get(key)
        if value is not None and _is_scalar(value):
            found.append((key, _text(value)))
    tags = test.get("tags")
    if tags and isinstance(tags, list):
        found.append(("tags", ", ".join(_text(t) for t in tags if _is_scalar(t))))
    labels = test.get("labels")
    if labels and isinstance(labels, dict):
        for name, value in labels.items():
            if _is_scalar(value):
                found.append((f"labels.{name}", _text(value)))
            elif isinstance(value, list) and all(_is_scalar(v) for v in value):
                found.append((f"labels.{name}", ", ".join(_text(v) for v in value)))
    properties: dict[str, str] = {}
    budget = PROPERTIES_LIMIT
    for name, value in found:
        value = clip(value, PROPERTY_VALUE_LIMIT)
        if len(name) + len(value) <= budget:
            properties[name] = value
            budget -= len(name) + len(value)
    return properties


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
