"""Reading an NDJSON event stream (go test -json, dart --reporter json) line by line.

Test runners merge stray stdout and stderr into these streams, so a line that is not a JSON
object is skipped, not fatal; only a stream with no JSON object at all is refused, at the first
line that failed (column from the JSON decoder, 1-based). Invalid UTF-8 is refused wherever it
is, with the line and the 1-based character column of the first bad byte. A line longer than
LINE_LIMIT is skipped without being held in memory (no runner writes such an event; test2json
splits long output lines), so memory stays bounded by one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ingest.parsers.records import ParseError

LINE_LIMIT = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def sniff_lines(head: bytes, accepts: Callable[[bytes], bool]) -> bool:
    """True when one of the first three JSON-looking lines of `head` is accepted. Stray
    non-JSON lines may precede the events and are passed over (within the first 64 lines)."""
    seen = 0
    for line in head.split(b"\n", 64)[:64]:
        if not line.lstrip().startswith(b"{"):
            continue
        if accepts(line):
            return True
        seen += 1
        if seen >= 3:
            break
    return False


class EventLines:
    """Iterates (line number, event object) over a stream; afterwards `skipped` tells how many
    non-empty lines were not JSON objects."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.skipped = 0
        self.events = 0
        self._first_bad: tuple[int, int, str] | None = None

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        readline = self._stream.readline
        loads = json.loads
        number = 0
        while True:
            raw = readline(LINE_LIMIT)
            if not raw:
                break
            number += 1
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if len(raw) >= LINE_LIMIT and not raw.endswith(b"\n"):
                while True:  # drop the rest of the over-long line, a block at a time
                    more = readline(LINE_LIMIT)
                    if not more or more.endswith(b"\n"):
                        break
                self._bad(number, 1, f"line longer than {LINE_LIMIT:,} bytes")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
                raise ParseError(
                    "malformed_json", "the stream is not valid UTF-8", line=number, column=column
                ) from None
            stripped = text.strip()
            if not stripped:
                continue
            if stripped[0] != "{":
                self._bad(number, len(text) - len(text.lstrip()) + 1, "not a JSON object")
                continue
            try:
                event = loads(text)
            except ValueError as exc:
                self._bad(number, getattr(exc, "colno", 1), str(getattr(exc, "msg", exc)))
                continue
            if type(event) is not dict:
                self._bad(number, 1, "not a JSON object")
                continue
            self.events += 1
            yield number, event
        if self.events == 0:
            line, column, why = self._first_bad or (1, 1, "the stream is empty")
            raise ParseError(
                "malformed_json",
                f"no JSON event in the stream ({why})",
                line=line,
                column=column,
            )

    def _bad(self, line: int, column: int, why: str) -> None:
        self.skipped += 1
        if self._first_bad is None:
            self._first_bad = (line, column, why)
