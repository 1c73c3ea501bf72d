"""Streaming the items of arrays inside one JSON document (mocha, RSpec), with error positions.

The document is read in CHUNK-byte blocks and pushed into ijson's C parser, so memory is one
block plus the item being built, whatever the file size. Several array paths can be followed in
one pass (each by its own ijson coroutine fed the same blocks).

Error positions (`malformed_json`, 1-based line and column in characters):
  - a document cut short: the end of the data, exact;
  - invalid UTF-8: the first bad byte, exact;
  - any other syntax error: ijson reports it with 30 bytes of context either side, which is
    located inside the block being parsed; exact unless those 60 bytes occur more than once in
    the 64 KiB block (then the first occurrence), and the start of the block if the context
    cannot be found at all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from ingest.parsers.records import ParseError

CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_CONTINUATION = re.compile(rb"[\x80-\xbf]")


def items(stream: BinaryIO, paths: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(path, item) for every item of the arrays at `paths` (ijson prefixes such as
    'tests.item'), each path's items in document order."""
    found = {path: ijson.sendable_list() for path in paths}
    coroutines = [ijson.items_coro(found[path], path, use_float=True) for path in paths]
    position = _Position()
    first = True
    while True:
        chunk = stream.read(CHUNK)
        if first:
            first = False
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if not chunk:
            break
        try:
            for coroutine in coroutines:
                coroutine.send(chunk)
        except ijson.JSONError as exc:
            raise position.error(exc, chunk) from None
        for path in paths:
            done = found[path]
            if done:
                for item in done:
                    yield path, item
                del done[:]
        position.advance(chunk)
    try:
        for coroutine in coroutines:
            coroutine.close()
    except ijson.JSONError as exc:
        raise position.error(exc, b"", at_end=True) from None
    for path in paths:
        for item in found[path]:
            yield path, item


class _Position:
    """Line and column (in characters) of the start of the block being parsed."""

    def __init__(self) -> None:
        self.line = 1
        self.column = 1

    def advance(self, chunk: bytes) -> None:
        newlines = chunk.count(b"\n")
        if newlines:
            self.line += newlines
            tail = chunk[chunk.rfind(b"\n") + 1 :]
            self.column = 1 + len(tail) - len(_CONTINUATION.findall(tail))
        else:
            self.column += len(chunk) - len(_CONTINUATION.findall(chunk))

    def at(self, chunk: bytes, offset: int) -> tuple[int, int]:
        before = chunk[:offset]
        newlines = before.count(b"\n")
        tail = before[before.rfind(b"\n") + 1 :] if newlines else before
        chars = len(tail) - len(_CONTINUATION.findall(tail))
        return self.line + newlines, (1 if newlines else self.column) + chars

    def error(self, exc: Exception, chunk: bytes, *, at_end: bool = False) -> ParseError:
        text = str(exc)
        if text.startswith(("b'", 'b"')):
            try:
                text = ast.literal_eval(text).decode("utf-8", "replace")
            except (ValueError, SyntaxError):
                pass
        summary = text.split("\n", 1)[0].strip()
        if at_end or "premature EOF" in text or "Incomplete JSON" in text:
            if not at_end:
                self.advance(chunk)
            return ParseError(
                "malformed_json",
                f"the JSON document is cut short ({summary})",
                line=self.line,
                column=self.column,
            )
        if "UTF8" in text or "UTF-8" in text:
            offset = _first_bad_utf8(chunk)
        else:
            # yajl's offset is just past the offending character.
            offset = max(0, _locate(text, chunk) - 1)
        line, column = self.at(chunk, offset)
        return ParseError(
            "malformed_json", f"the JSON is not well-formed: {summary}", line=line, column=column
        )


def _first_bad_utf8(chunk: bytes) -> int:
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def _locate(message: str, chunk: bytes) -> int:
    """The offset in `chunk` of the error ijson (yajl) described.

    yajl prints the block's bytes [offset-30, offset+30) with CR/LF shown as spaces, padded on
    the left so that the byte at `offset` sits at column 40, under the caret."""
    lines = message.split("\n")
    if len(lines) < 3 or "^" not in lines[2]:
        return 0
    caret = lines[2].index("^")
    context = lines[1].encode("utf-8", "replace")
    flat = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    # The error lies in the first 30 bytes of the block: the context starts at the block start.
    for offset in range(min(30, len(flat) + 1)):
        pad = caret - offset
        if pad >= 0 and context[:pad].strip() == b"" and flat.startswith(context[pad:]):
            if context[pad:]:
                return offset
    # Otherwise the context is 10 spaces then bytes [offset-30, offset+30).
    window = context[caret - 30 :] if caret >= 30 else b""
    if window:
        found = flat.find(window)
        if found >= 0:
            return found + 30
    return 0
