"""JUnit XML, in all the dialects that share the `<testsuites>` / `<testsuite>` shape.

Reading rules (FORMATS.md §1 and §2 describe the dialects):

* Root: `<testsuites>` or `<testsuite>`; a `<testsuite>` root is a `<testsuites>` with one child.
  Suites nest to any depth. The suite path is the names of the enclosing `<testsuite>` elements,
  outermost first, joined " / ", empty names skipped. The `<testsuites>` root's name is a run
  label ("jest tests", "nextest-run"), not a suite, and is not part of the path.
* Outcome of a testcase, from its children: `<error>` > `<failure>` > `<skipped>` > passed.
  With no such child, a gtest/tst `status` or `result` attribute decides: disabled / skipped /
  notrun / ignored -> skipped, failed -> failed, errored / error -> error; anything else passed.
* Attempts: each Surefire/Marathon `<flakyFailure>` / `<flakyError>` is a failed / error attempt
  yielded before the testcase's own (final) record; each `<rerunFailure>` / `<rerunError>` is an
  attempt yielded after it. Repeated testcases are yielded in document order; the caller numbers
  attempts. A flaky or rerun attempt carries its own message and its own stackTrace, system-out
  and system-err; its duration is its `time` attribute when present, else unknown.
* Duration: the `time` attribute, else a `<time>` child element (AntUnit), else Bazel's
  `duration` attribute, all in seconds through values.seconds_to_ms.
* file / line: testcase attributes, else the `<error>` / `<failure>` element's (Catch2), else the
  nearest enclosing suite's `file`. PHPUnit's `class="A\\B"` is ignored in favour of `classname`.
* started_at: the testcase `timestamp`, else the nearest enclosing suite (or root) carrying one;
  None when that value is unreadable.
* message: the outcome element's `message` attribute, else the first non-blank line of its body,
  else its `type` attribute. output: the outcome elements' bodies, then the testcase's
  system-out and system-err. Suite-level system-out/err belongs to no test and is dropped.
* Properties of the root, every enclosing suite and the testcase are merged, the innermost
  winning, duplicates within one block last-wins; each value is clipped to 1 KB and the total per
  record to PROPERTIES_LIMIT characters, testcase properties kept first. A `worker` property
  (also `worker_id`, `xdist_worker`) on the testcase, else on the nearest suite, is the timeline.
* An `<error>` or `<failure>` directly under a suite (a class that failed to load) becomes an
  ERROR record named "[suite error]" whose classname is the suite's name.

Streaming: the stream is fed to lxml in 16 KB pieces with the walker as the parser target, so
libxml2 calls start/data/end as it reads and builds no tree by itself. A testcase start is held
back; when its end comes next (a testcase without children, the common case) its record is made
from the attribute dict alone, with no element ever built. Everything else (suites, properties,
suite-level errors, a testcase that turns out to have children) is built by a TreeBuilder and
read by the element readers below; what a testcase inherits is read from its built ancestors,
once per run of sibling testcases. Every built element is removed once read, suites when they
end, so memory is bounded by the largest single testcase plus the records of one piece.
Character data is collected by a list's append (a C call) and handed to the builder only inside
elements whose text is read. A suite's `<properties>` reach the testcases after them (all of
them in every producer seen). Entities are never resolved, no DTD is loaded, nothing is fetched.
Attribute values are normalized the XML way: a literal newline in `message="..."` reads as a
space (pytest's multi-line message attributes), while `&#10;` stays a newline; libxml2 hands a
target every `&` of an attribute value as `&#38;`, which is read back as `&`.

Errors: a DOCTYPE anywhere in the prolog -> `forbidden_dtd` (checked on the raw bytes before lxml
starts, and again when libxml2 reports one); a root other than testsuites/testsuite ->
`unsupported_format` (unless the same piece of data is not well-formed); anything lxml rejects -> `malformed_xml` with libxml2's line and column.
Columns are 1-based and count characters, not bytes (libxml2's own convention).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, BinaryIO, overload

from lxml import etree

from ingest.parsers.records import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    Outcome,
    ParseError,
    TestRecord,
    clip,
)
from ingest.parsers.sniffing import xml_root_name
from ingest.parsers.streams import wide_text
from ingest.parsers.values import parse_int, parse_timestamp, seconds_to_ms
from ingest.parsers.xmlstream import SAFE_OPTIONS

ROOTS = frozenset({"testsuites", "testsuite"})
SUITE_ERROR_NAME = "[suite error]"
PROPERTIES_LIMIT = 8 * 1024  # characters of property names and values kept per record
PROPERTY_VALUE_LIMIT = 1024  # one JVM class path must not crowd out every other property
WORKER_PROPERTIES = ("worker", "worker_id", "xdist_worker")  # first found wins

# Built elements whose end is read on its own; everything else is read through its testcase.
_ENDS_READ = frozenset({"testsuite", "testsuites", "properties", "error", "failure"})
_BOM = b"\xef\xbb\xbf"
_PROLOG_LIMIT = 1024 * 1024  # give up looking for the root after this much prolog
_TEXT_KEEP = 1024 * 1024  # characters of one text node kept (outputs are clipped far below)
_TEXT_PIECES = 1024  # pieces of one text run held before they are merged and cut
_CHUNK = 16 * 1024  # also bounds the records held between two feeds

# A testcase whose children are only these (properties of name/value pairs, at most one outcome
# element, captured output), none with children of its own bar properties' property elements, is
# read without building elements; anything else sends it down the element path.
_CASE_CHILDREN = frozenset(
    {"properties", "failure", "error", "skipped", "system-out", "system-err"}
)
_CASE_BODIES = {"error": Outcome.ERROR, "failure": Outcome.FAILED, "skipped": Outcome.SKIPPED}
_CASE_FAST = True  # False reads every testcase with children through elements (tests compare)

_NO_ROOT: Mapping[str, str] = {}  # never a testcase's attributes (compared by identity)
_PASSED, _FAILED, _ERROR, _SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED
_ATTRIBUTE_OUTCOMES = {
    "disabled": _SKIPPED,
    "skipped": _SKIPPED,
    "notrun": _SKIPPED,
    "ignored": _SKIPPED,
    "failed": _FAILED,
    "failure": _FAILED,
    "errored": _ERROR,
    "error": _ERROR,
}
_ATTEMPT_OUTCOMES = {
    "flakyFailure": _FAILED,
    "flakyError": _ERROR,
    "rerunFailure": _FAILED,
    "rerunError": _ERROR,
}


def sniff(head: bytes) -> bool:
    return xml_root_name(head) in ROOTS


def parse(stream: BinaryIO) -> Iterator[TestRecord]:
    return _Walker().walk(stream)


# --- input: the prolog is read first so a DOCTYPE is refused before lxml parses anything ------


class _PrologChecked:
    """The stream, with its prolog read ahead and checked for a DOCTYPE, then replayed to lxml."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._head = _read_prolog(stream)

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._stream.read(), b""
            else:
                data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)


def _read_prolog(stream: BinaryIO) -> bytes:
    head = b""
    while True:
        chunk = stream.read(_CHUNK)
        head += chunk
        if _prolog_done(_as_text(head), eof=not chunk) or len(head) > _PROLOG_LIMIT:
            return head


def _as_text(head: bytes) -> str:
    """The head as text for the prolog scan; UTF-16/32 heads are decoded so their DOCTYPE shows."""
    wide = wide_text(head)
    if wide is not None:
        return wide
    return head[len(_BOM) :].decode("latin-1") if head.startswith(_BOM) else head.decode("latin-1")


def _prolog_done(text: str, *, eof: bool) -> bool:
    """True once the root element's start is in `text`; ParseError if a DOCTYPE comes first."""
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return eof
        if text.startswith("<?", pos):
            close, closer = text.find("?>", pos + 2), "?>"
        elif text.startswith("<!--", pos):
            close, closer = text.find("-->", pos + 4), "-->"
        elif text.startswith("<!", pos):
            if end - pos < 9 and not eof:
                return False  # "<!DOC" or "<!-" cut by the chunk boundary: read more
            if text[pos + 2 : pos + 9].upper() == "DOCTYPE":
                raise _forbidden_dtd()
            return True  # some other markup; lxml will judge it
        else:
            return True  # the root element (or text lxml will reject)
        if close < 0:
            return eof
        pos = close + len(closer)


def _forbidden_dtd() -> ParseError:
    return ParseError(
        "forbidden_dtd", "XML with a DOCTYPE (DTD or entity declarations) is not accepted"
    )


def _malformed(exc: etree.XMLSyntaxError) -> ParseError:
    line, column = exc.position if exc.position else (None, None)
    text = str(exc.msg or exc)
    if line:
        # lxml appends ", line L, column C"; the position is reported separately.
        text = text.removesuffix(f", line {line}, column {column}")
    return ParseError(
        "malformed_xml",
        f"the XML is not well-formed: {text}",
        line=line or None,
        column=column if line else None,
    )


def _root_error(tag: str) -> ParseError | None:
    name = _local(tag)
    if name in ROOTS:
        return None
    return ParseError(
        "unsupported_format",
        f"the XML root element is <{name}>, not <testsuites> or <testsuite>",
    )


# --- the walk -----------------------------------------------------------------------------------


class _Suite:
    """What a testcase inherits from its enclosing suites."""

    __slots__ = ("path", "started_at", "file", "timeline", "properties", "levels")

    def __init__(
        self,
        path: str,
        started_at: datetime | None,
        file: str,
        timeline: str,
        levels: list[dict[str, str]],
    ) -> None:
        self.path = path
        self.started_at = started_at
        self.file = file
        self.timeline = timeline
        self.levels = levels  # property blocks, innermost first
        self.properties = _merge_properties(levels)


class _Cache(dict):
    """Converted values by their text: runners repeat durations and line numbers, so each
    spelling is converted once. A miss converts; the cache is emptied when it grows large."""

    def __init__(self, convert: Callable[[str | None], int | None]) -> None:
        super().__init__()
        self._convert = convert

    def __missing__(self, text: str | None) -> int | None:
        if len(self) > 4096:
            self.clear()
        value = self[text] = self._convert(text)
        return value


class _Walker:
    """The parser target: lxml calls start/data/end as it reads, and records collect in `_out`.

    A testcase start is held back (`_pending`) instead of building an element: if its end comes
    next, the record is made from the attribute dict alone, the common case. Anything else
    (suites, properties, a testcase's children) is built into a tree by a TreeBuilder so the
    element-based readers below see whole elements, and each is removed once read.
    """

    def __init__(self) -> None:
        self._parent: etree._Element | None = None  # the element `_suite` was computed for
        self._suite = _Suite("", None, "", "", [])
        self._properties: dict[etree._Element, dict[str, str]] = {}
        self._last_stamp: tuple[str, datetime | None] = ("", None)
        self._builder = etree.TreeBuilder()
        self._stack: list[etree._Element] = []  # open built elements, the root first
        self._in_content: list[bool] = []  # for each: whether text inside it is ever read
        # lxml hands every piece of character data to `data`, a list's append: calling C is
        # cheaper than calling Python. The text is passed on to the builder only where it is
        # read (inside elements other than suites) and dropped elsewhere.
        self._texts: list[str] = []
        self.data = self._texts.append
        self._keep_text = False
        # A testcase started and not built yet; _NO_ROOT until the root element was checked.
        self._pending: Mapping[str, str] | None = _NO_ROOT
        self._pending_tag = ""
        # The pending testcase's children while they are simple (see _CASE_CHILDREN), as events:
        # ("start", tag, attrib), ("data", text, None), ("end", tag, None); None otherwise.
        self._case: list[tuple[str, Any, Any]] | None = None
        self._case_open: list[str] = []  # the testcase's open children, outermost first
        self._refused: ParseError | None = None  # the root is not a JUnit root
        self._context: tuple[str, str, str, datetime | None, dict[str, str], bool] | None = None
        self._out: list[TestRecord] = []
        self._seconds = _Cache(seconds_to_ms)
        self._lines = _Cache(parse_int)

    def walk(self, stream: BinaryIO) -> Iterator[TestRecord]:
        parser = etree.XMLParser(target=self, **SAFE_OPTIONS)
        source = _PrologChecked(stream)
        try:
            while chunk := source.read(_CHUNK):
                parser.feed(chunk)
                self._check_refused()
                if not self._keep_text:
                    self._texts.clear()  # text between suite children is never read
                elif len(self._texts) > _TEXT_PIECES:
                    self._merge_text()
                if self._out:  # at most one chunk's records are held
                    out, self._out = self._out, []
                    yield from out
            parser.close()
        except etree.XMLSyntaxError as exc:
            raise _malformed(exc) from None
        self._check_refused()
        if self._pending is _NO_ROOT:
            raise ParseError("malformed_xml", "the XML document has no root element")
        yield from self._out

    # --- parser target callbacks -----------------------------------------------------------

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        if self._pending is not None:
            if self._pending is _NO_ROOT:
                self._pending = None
                # Raised once lxml returns: a syntax error in the same data wins.
                self._refused = _root_error(tag)
            elif self._case_child(tag, attrib):
                return
            elif self._case is not None:  # children the element path reads: build them
                self._case_abandon()
            else:
                self._build_pending()
        if tag == "testcase" or tag[-9:] == "}testcase":
            if self._keep_text:
                self._flush_text()
                self._keep_text = False
            self._pending = attrib
            self._pending_tag = tag
            return
        self._start_built(tag, attrib)

    def end(self, tag: str) -> None:
        attrib = self._pending
        if attrib is None:
            self._end_built(tag)
            return
        if self._case is not None:
            if self._case_open:
                self._case_event("end", tag)
                self._case_open.pop()
            else:
                self._case_end(tag, attrib)
            return
        # A testcase without children: the hot path, once per test in most files.
        self._pending = None
        context = self._context
        if context is None:
            context = self._make_context()
        path, suite_file, timeline, started_at, properties, keep = context
        if keep:  # inside an element whose text is read; this testcase's own text is not
            self._texts.clear()
            self._keep_text = True
        if ("status" in attrib or "result" in attrib) and self._by_status(tag, attrib):
            return
        get = attrib.get
        name = get("name", "")
        classname = get("classname", "")
        seconds = get("time")
        if seconds is None:
            seconds = get("duration")
        file = get("file")
        if "&" in name or "&" in classname or (file and "&" in file):
            name, classname, file = _unescape(name), _unescape(classname), _unescape(file)
        file = file or suite_file
        if len(name) > NAME_LIMIT or len(classname) > NAME_LIMIT or len(file) > NAME_LIMIT:
            name, classname, file = name[:NAME_LIMIT], classname[:NAME_LIMIT], file[:NAME_LIMIT]
        stamp = get("timestamp")
        self._out.append(
            TestRecord(
                name,
                _PASSED,
                classname,
                path,
                file,
                self._lines[get("line")],
                self._seconds[seconds],
                timeline,
                self._stamp(stamp) if stamp else started_at,
                "",
                "",
                properties.copy() if properties else {},
            )
        )

    def doctype(self, *_args: object) -> None:
        raise _forbidden_dtd()

    def close(self) -> None:
        pass

    # --- testcases with simple children, read without elements ------------------------------

    def _case_child(self, tag: str, attrib: Mapping[str, str]) -> bool:
        """Take a start inside the pending testcase without building it; False (with whatever
        was taken handed to the element path) when the element path has to read it."""
        case = self._case
        open_ = self._case_open
        if case is None:
            if not _CASE_FAST:
                return False
            case = self._case = []
            self._texts.clear()  # the testcase's own text, never read
            self._keep_text = True  # text inside its children is read: keep it across feeds
        if not open_:
            simple = tag in _CASE_CHILDREN and not (
                tag in _CASE_BODIES and any(e[1] in _CASE_BODIES for e in case if e[0] == "start")
            )
        else:
            simple = (
                open_ == ["properties"] and tag == "property"
                and "name" in attrib and "value" in attrib
            )  # fmt: skip
        if not simple:
            return False
        self._case_event("start", tag, attrib)
        open_.append(tag)
        return True

    def _case_event(self, kind: str, tag: str, attrib: Mapping[str, str] | None = None) -> None:
        case = self._case
        assert case is not None
        if self._texts:
            case.append(("data", self._joined_text(), None))
            self._texts.clear()
        case.append((kind, tag, attrib))

    def _case_abandon(self) -> None:
        """Build the pending testcase and what it has read so far, as if it had been built."""
        case = self._case
        assert case is not None
        if self._texts:
            case.append(("data", self._joined_text(), None))
        self._case = None
        self._case_open.clear()
        self._build_pending()
        for kind, value, attrib in case:
            if kind == "start":
                self._start_built(value, attrib)
            elif kind == "data":
                self._texts.append(value)
            else:
                self._end_built(value)

    def _case_end(self, tag: str, attrib: Mapping[str, str]) -> None:
        """The end of a testcase read without elements: its record, as _detailed makes it."""
        case = self._case
        assert case is not None
        self._case = None
        self._pending = None
        context = self._context
        if context is None:
            context = self._make_context()
        path, suite_file, timeline, started_at, properties, keep = context
        levels = self._suite.levels
        self._texts.clear()
        self._keep_text = keep
        body_tag = ""
        body: Mapping[str, str] = _NO_ROOT
        texts: dict[str, list[str]] = {"system-out": [], "system-err": []}
        own: dict[str, str] = {}
        inside = ""
        for kind, value, child in case:
            if kind == "start":
                if value == "property":
                    own[_unescape(child["name"])] = _unescape(child["value"])
                    continue
                inside = value
                if value in _CASE_BODIES:
                    body_tag, body = value, _unescaped(child)
                    texts[value] = []
            elif kind == "data":
                if inside and inside != "properties":
                    texts[inside].append(value)
            else:
                inside = ""
        attrib = _unescaped(attrib)
        get = attrib.get
        if body_tag:
            outcome = _CASE_BODIES[body_tag]
            body_text = "".join(texts[body_tag])
            message = body.get("message") or ""
            if not message.strip():
                message = _first_line(body_text) or (body.get("type") or "")
            message = clip(message, MESSAGE_LIMIT)
            bodies = [body_text]
        else:
            outcome = _attribute_outcome(get) or _PASSED
            message = ""
            bodies = []
        seconds = get("time")
        if seconds is None:
            seconds = get("duration")
        file = get("file")
        line = get("line")
        if body_tag and body_tag != "skipped":
            file = file or body.get("file")
            line = line if line is not None else body.get("line")
        if own:
            own = {name: value for name, value in own.items() if name}
        if own:
            properties = _merge_properties([own, *levels])
            timeline = _worker([own]) or timeline
        else:
            properties = dict(properties)
        stamp = get("timestamp")
        self._out.append(
            TestRecord(
                (get("name") or "")[:NAME_LIMIT],
                outcome,
                (get("classname") or "")[:NAME_LIMIT],
                path,
                (file or suite_file)[:NAME_LIMIT],
                None if line is None else self._lines[line],
                None if seconds is None else self._seconds[seconds],
                timeline,
                self._stamp(stamp) if stamp else started_at,
                message,
                _join([*bodies, *texts["system-out"], *texts["system-err"]]),
                properties,
            )
        )

    # --- built elements -----------------------------------------------------------------------

    def _make_context(self) -> tuple[str, str, str, datetime | None, dict[str, str], bool]:
        """What a childless testcase under the innermost open element inherits."""
        self._check_refused()  # a testcase as the root has nothing above it
        parent = self._stack[-1]
        if parent is not self._parent:
            self._enter(parent)
        suite = self._suite
        self._context = (
            suite.path,
            suite.file,
            suite.timeline,
            suite.started_at,
            suite.properties,
            self._in_content[-1],
        )
        return self._context

    def _by_status(self, tag: str, attrib: Mapping[str, str]) -> bool:
        """A childless testcase whose status/result attribute gives its outcome goes the
        detailed way; False when the attribute says nothing."""
        if _attribute_outcome(attrib.get) is None:
            return False
        self._builder.start(tag, _unescaped(attrib))
        el = self._builder.end(tag)
        self._out.extend(self._detailed(el, self._suite))
        if not self._keep_text:
            self._stack[-1].remove(el)
        return True

    def _merge_text(self) -> None:
        """A long run of text read so far, as one piece, so memory stays bounded."""
        self._texts[:] = [self._joined_text()]

    def _joined_text(self) -> str:
        """The pieces of text read since the last built start or end, cut to _TEXT_KEEP
        characters: a test that logged 50 MB keeps its first megabyte (its output is clipped to
        OUTPUT_LIMIT anyway), and the file is not refused for it."""
        text = "".join(self._texts)
        return text[:_TEXT_KEEP] if len(text) > _TEXT_KEEP else text

    def _flush_text(self) -> None:
        """Hand the text read since the last built start or end to the builder, if it is read."""
        texts = self._texts
        if texts:
            if self._keep_text:
                self._builder.data(self._joined_text())
            texts.clear()

    def _start_built(self, tag: str, attrib: Mapping[str, str]) -> None:
        self._flush_text()
        el = self._builder.start(tag, _unescaped(attrib))
        self._stack.append(el)
        self._context = None
        keep = self._keep_text = _local(tag) not in ROOTS
        self._in_content.append(keep)

    def _build_pending(self) -> None:
        tag, attrib = self._pending_tag, self._pending
        assert attrib is not None  # called only while a testcase start is held back
        self._pending = None
        self._texts.clear()  # the testcase's own text, never read
        self._stack.append(self._builder.start(tag, _unescaped(attrib)))
        self._context = None
        self._in_content.append(True)
        self._keep_text = True

    def _check_refused(self) -> None:
        if self._refused is not None:
            raise self._refused

    def _end_built(self, tag: str) -> None:
        self._flush_text()
        el = self._builder.end(tag)
        self._stack.pop()
        self._in_content.pop()
        stack = self._stack
        self._keep_text = self._in_content[-1] if stack else False
        name = _local(tag)
        parent = stack[-1] if stack else None
        if name == "testcase":
            if parent is not self._parent:
                self._enter(parent)
            self._out.extend(self._detailed(el, self._suite))
        elif name in _ENDS_READ:
            self._out.extend(self._other(name, el))
        if parent is not None and not self._in_content[-1]:
            parent.remove(el)  # read, and nothing in a suite refers back to it
        self._context = None  # the innermost element or what it passes on has changed

    def _other(self, tag: str, el: etree._Element) -> Iterator[TestRecord]:
        """The end of a suite, a properties block or an error/failure element."""
        if tag == "testsuite" or tag == "testsuites":
            self._properties.pop(el, None)
            if el is self._parent:
                self._parent = None
            _discard(el, el.getparent())
            return
        parent = el.getparent()
        if parent is None or _local(parent.tag) not in ROOTS:
            return  # inside a testcase: read with the testcase
        if tag == "properties":
            self._properties.setdefault(parent, {}).update(_read_properties(el))
            self._parent = None  # what testcases inherit has changed
        else:  # a suite-level <error> or <failure>
            yield self._suite_error(el, parent)
        el.clear()

    def _enter(self, parent: etree._Element | None) -> None:
        """Compute what testcases under `parent` inherit; once per run of sibling testcases."""
        self._parent = parent
        chain = [] if parent is None else [parent, *parent.iterancestors()]
        suites = [a for a in chain if isinstance(a.tag, str) and _local(a.tag) in ROOTS]
        names = [a.get("name") or "" for a in reversed(suites) if _local(a.tag) == "testsuite"]
        path = " / ".join(n for n in names if n)[:NAME_LIMIT]
        started_at = None
        for a in suites:
            stamp = a.get("timestamp")
            if stamp is not None:
                started_at = parse_timestamp(stamp)
                break
        file = next((a.get("file") for a in suites if a.get("file")), "") or ""
        levels = [self._properties[a] for a in suites if a in self._properties]
        self._suite = _Suite(path, started_at, file[:NAME_LIMIT], _worker(levels), levels)

    def _stamp(self, text: str) -> datetime | None:
        # Runners stamp every testcase, often with the same second; parse each value once.
        if text != self._last_stamp[0]:
            self._last_stamp = (text, parse_timestamp(text))
        return self._last_stamp[1]

    def _detailed(self, el: etree._Element, suite: _Suite) -> Iterator[TestRecord]:
        """A testcase with children or a status attribute: outcome, message, output, attempts."""
        found: dict[str, etree._Element] = {}
        bodies: list[etree._Element] = []  # outcome elements, in document order
        attempts_before: list[etree._Element] = []
        attempts_after: list[etree._Element] = []
        out: list[str] = []
        err: list[str] = []
        own_properties: dict[str, str] = {}
        time_child: str | None = None
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # processing instruction
            if tag[0] == "{":
                tag = _local(tag)
            if tag in ("error", "failure", "skipped"):
                found.setdefault(tag, child)
                bodies.append(child)
            elif tag == "system-out":
                out.append(_text(child))
            elif tag == "system-err":
                err.append(_text(child))
            elif tag == "flakyFailure" or tag == "flakyError":
                attempts_before.append(child)
            elif tag == "rerunFailure" or tag == "rerunError":
                attempts_after.append(child)
            elif tag == "properties":
                own_properties.update(_read_properties(child))
            elif tag == "time":
                time_child = _text(child)

        chosen = found.get("error")
        if chosen is not None:
            outcome = _ERROR
        elif (chosen := found.get("failure")) is not None:
            outcome = _FAILED
        elif (chosen := found.get("skipped")) is not None:
            outcome = _SKIPPED
        else:
            given = _attribute_outcome(el.get)
            outcome = _PASSED if given is None else given

        get = el.get
        seconds = get("time")
        if seconds is None:
            seconds = time_child if time_child is not None else get("duration")
        file = get("file")
        line = get("line")
        for located in (found.get("error"), found.get("failure")):
            if located is not None:
                file = file or located.get("file")
                line = line if line is not None else located.get("line")
        stamp = get("timestamp")

        properties = suite.properties
        timeline = suite.timeline
        if own_properties:
            properties = _merge_properties([own_properties, *suite.levels])
            timeline = _worker([own_properties]) or timeline
        ordered = sorted(bodies, key=lambda b: b is not chosen)  # the chosen one first
        base = TestRecord(
            name=(get("name") or "")[:NAME_LIMIT],
            outcome=outcome,
            classname=(get("classname") or "")[:NAME_LIMIT],
            suite=suite.path,
            file=(file or suite.file)[:NAME_LIMIT],
            line=None if line is None else parse_int(line),
            duration_ms=None if seconds is None else seconds_to_ms(seconds),
            timeline=timeline,
            started_at=suite.started_at if stamp is None else self._stamp(stamp),
            message=_message(chosen) if chosen is not None else "",
            output=_join([*(_text(b) for b in ordered), *out, *err]),
            properties=properties,
        )
        for attempt in attempts_before:
            yield _attempt(base, attempt)
        base.properties = dict(properties)
        yield base
        for attempt in attempts_after:
            yield _attempt(base, attempt)

    def _suite_error(self, el: etree._Element, parent: etree._Element) -> TestRecord:
        if parent is not self._parent:
            self._enter(parent)
        suite = self._suite
        return TestRecord(
            name=SUITE_ERROR_NAME,
            outcome=_ERROR,
            classname=(parent.get("name") or "")[:NAME_LIMIT],
            suite=suite.path,
            file=suite.file,
            timeline=suite.timeline,
            started_at=suite.started_at,
            message=_message(el),
            output=_join([_text(el)]),
            properties=dict(suite.properties),
        )


def _attempt(base: TestRecord, el: etree._Element) -> TestRecord:
    """One Surefire flaky/rerun attempt: the testcase's identity with this attempt's own data."""
    tag = _local(el.tag)
    trace: list[str] = []
    out: list[str] = []
    err: list[str] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        kind = _local(child.tag)
        if kind == "stackTrace":
            trace.append(_text(child))
        elif kind == "system-out":
            out.append(_text(child))
        elif kind == "system-err":
            err.append(_text(child))
    if not trace and el.text and el.text.strip():
        trace.append(el.text)
    message = el.get("message") or ""
    if not message.strip():
        message = _first_line(trace[0] if trace else "") or (el.get("type") or "")
    seconds = el.get("time")
    return TestRecord(
        name=base.name,
        outcome=_ATTEMPT_OUTCOMES.get(tag, _FAILED),
        classname=base.classname,
        suite=base.suite,
        file=base.file,
        line=base.line,
        duration_ms=None if seconds is None else seconds_to_ms(seconds),
        timeline=base.timeline,
        started_at=base.started_at,
        message=clip(message, MESSAGE_LIMIT),
        output=_join([*trace, *out, *err]),
        properties=dict(base.properties),
    )


# --- small readers ------------------------------------------------------------------------------


def _attribute_outcome(get: Callable[[str], str | None]) -> Outcome | None:
    """The outcome a gtest/tst `status` or `result` attribute gives, if it gives one; `get`
    reads the testcase's attributes."""
    for key in ("status", "result"):
        value = get(key)
        if value and value.lower() in _ATTRIBUTE_OUTCOMES:
            return _ATTRIBUTE_OUTCOMES[value.lower()]
    return None


@overload
def _unescape(value: str) -> str: ...
@overload
def _unescape(value: str | None) -> str | None: ...
def _unescape(value: str | None) -> str | None:
    """An attribute value as the document means it. Without entity substitution, libxml2 hands
    parser targets every `&` of an attribute value (from `&amp;`, `&#38;`, `&#x26;`) as the text
    `&#38;`; all other references arrive decoded."""
    return value.replace("&#38;", "&") if value else value


def _unescaped(attrib: Mapping[str, str]) -> Mapping[str, str]:
    if any("&" in value for value in attrib.values()):
        return {name: value.replace("&#38;", "&") for name, value in attrib.items()}
    return attrib


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _discard(el: etree._Element, parent: etree._Element | None) -> None:
    """Free a finished element and every earlier sibling, which were all processed already."""
    el.clear()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _text(el: etree._Element) -> str:
    if len(el):
        return "".join(el.itertext())
    return el.text or ""


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _message(el: etree._Element) -> str:
    message = el.get("message") or ""
    if not message.strip():
        message = _first_line(_text(el)) or (el.get("type") or "")
    return clip(message, MESSAGE_LIMIT)


def _join(parts: Iterable[str]) -> str:
    kept = [p.lstrip("\r\n").rstrip() for p in parts if p and not p.isspace()]
    return clip("\n".join(kept), OUTPUT_LIMIT)


def _read_properties(el: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for prop in el:
        if not isinstance(prop.tag, str) or _local(prop.tag) != "property":
            continue  # stray text or comments around properties are ignored
        name = prop.get("name")
        if not name:
            continue
        value = prop.get("value")
        if value is None:
            value = "".join(prop.itertext()).strip()
        found[name] = value
    return found


def _merge_properties(levels: list[dict[str, str]]) -> dict[str, str]:
    """Innermost level first; a name already taken by an inner level is skipped."""
    merged: dict[str, str] = {}
    budget = PROPERTIES_LIMIT
    for level in levels:
        for name, value in level.items():
            if name in merged:
                continue
            value = clip(value, PROPERTY_VALUE_LIMIT)
            cost = len(name) + len(value)
            if cost > budget:
                continue
            merged[name] = value
            budget -= cost
    return merged


def _worker(levels: list[dict[str, str]]) -> str:
    for level in levels:
        for key in WORKER_PROPERTIES:
            value = level.get(key)
            if value and value.strip():
                return value.strip()[:NAME_LIMIT]
    return ""
