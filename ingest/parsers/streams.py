"""Opening an uploaded file for parsing: transparent gzip with a bound, hashing, the head for sniffing."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from typing import BinaryIO

from ingest.parsers.records import HEAD_BYTES, ParseError

GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


class BoundedReader(io.RawIOBase):
    """A read-only stream that refuses to yield more than `limit` bytes (a gzip bomb stops here)
    and can hash everything it yields."""

    def __init__(
        self, inner: BinaryIO | gzip.GzipFile, limit: int, *, digest: bool = False
    ) -> None:
        self._inner = inner
        self._limit = limit
        self._count = 0
        self._hash = hashlib.sha256() if digest else None

    def readable(self) -> bool:
        return True

    # io's buffered readers hand a bytearray or a memoryview; typeshed allows any Buffer, which
    # has no len() or slice assignment.
    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise ParseError("bad_gzip", f"the gzip stream is corrupt: {exc}") from None
        n = len(data)
        self._count += n
        if self._count > self._limit:
            raise ParseError(
                "file_too_large",
                f"the file is larger than {self._limit:,} bytes once decompressed",
            )
        if self._hash is not None:
            self._hash.update(data)
        buffer[:n] = data
        return n

    @property
    def bytes_read(self) -> int:
        return self._count

    def hexdigest(self) -> str:
        assert self._hash is not None
        return self._hash.hexdigest()


def is_gzip(raw: BinaryIO) -> bool:
    raw.seek(0)
    magic = raw.read(2)
    raw.seek(0)
    return magic == GZIP_MAGIC


def open_bounded(raw: BinaryIO, *, limit: int, digest: bool = False) -> BoundedReader:
    """The decompressed content of `raw` (gzip or plain), read from the start, at most `limit` bytes."""
    inner = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip(raw) else raw
    raw.seek(0)
    return BoundedReader(inner, limit, digest=digest)


# XML in UTF-16 (some Windows tools write it) or UTF-32, known by a BOM or by "<" next to NULs;
# the BOMs of UTF-32 first, as UTF-16's little-endian one begins them.
_WIDE = (
    (b"\xff\xfe\x00\x00", 4, "utf-32-le"), (b"\x00\x00\xfe\xff", 4, "utf-32-be"),
    (b"\xff\xfe", 2, "utf-16-le"), (b"\xfe\xff", 2, "utf-16-be"),
    (b"<\x00\x00\x00", 0, "utf-32-le"), (b"\x00\x00\x00<", 0, "utf-32-be"),
    (b"<\x00", 0, "utf-16-le"), (b"\x00<", 0, "utf-16-be"),
)  # fmt: skip


_UTF32 = tuple(mark for mark, _, codec in _WIDE if codec.startswith("utf-32"))


def wide_text(head: bytes) -> str | None:
    """A UTF-16 or UTF-32 head decoded (without its BOM), or None for any other."""
    for mark, bom, codec in _WIDE:
        if head.startswith(mark):
            return head[bom:].decode(codec, "ignore")
    return None


def read_head(raw: BinaryIO, *, limit: int) -> bytes:
    """The first HEAD_BYTES of the decompressed content, after any BOM and leading whitespace,
    as UTF-8: a UTF-16 head is decoded so that formats are told by the same sniffers (the
    parsers read such files through libxml2, which decodes them itself)."""
    reader = open_bounded(raw, limit=limit)
    head = reader.read(HEAD_BYTES) or b""
    raw.seek(0)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    text = wide_text(head)
    if text is not None and not head.startswith(_UTF32):
        head = text.encode("utf-8")  # UTF-32, which libxml2 does not read, stays unknown
    return head.lstrip()


def buffered(reader: BoundedReader) -> io.BufferedReader:
    return io.BufferedReader(reader, buffer_size=256 * 1024)
