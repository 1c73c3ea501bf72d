"""The C heap in use, for the parsers' bounded-memory tests.

Resident memory would not do: pages freed earlier in the process are reused silently. The C
parsers (libxml2 under lxml, yajl under ijson) keep their buffers on malloc's heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def c_heap_in_use() -> int | None:
    """Bytes malloc has handed out (glibc's `mallinfo2`); None where it is not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError, TypeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)
