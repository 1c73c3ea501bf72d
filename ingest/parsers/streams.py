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

    def __init__(self, inner: BinaryIO, limit: int, *, digest: bool = False) -> None:
        self._inner = inner
        self._limit = limit
        self._count = 0
        self._hash = hashlib.sha256() if digest else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
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
    inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip(raw) else raw
    raw.seek(0)
    return BoundedReader(inner, limit, digest=digest)


# UTF-16 XML (some Windows tools write it), known by a BOM or by "<" next to a NUL. (UTF-32,
# which libxml2 does not read, is left to be refused as an unknown format.)
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_WIDE = (
    (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
    (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be"),
)  # fmt: skip


def read_head(raw: BinaryIO, *, limit: int) -> bytes:
    """The first HEAD_BYTES of the decompressed content, after any BOM and leading whitespace,
    as UTF-8: a UTF-16 head is decoded so that formats are told by the same sniffers (the
    parsers read such files through libxml2, which decodes them itself)."""
    reader = open_bounded(raw, limit=limit)
    head = reader.read(HEAD_BYTES) or b""
    raw.seek(0)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    for mark, codec in _WIDE if not head.startswith(_UTF32_BOMS) else ():
        if head.startswith(mark):
            bom = 0 if b"<" in mark else len(mark)
            head = head[bom:].decode(codec, "ignore").encode("utf-8")
            break
    return head.lstrip()


def buffered(reader: BoundedReader) -> io.BufferedReader:
    return io.BufferedReader(reader, buffer_size=256 * 1024)
