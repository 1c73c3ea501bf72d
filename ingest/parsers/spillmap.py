"""A multimap of small tuples that moves to a temporary SQLite file past a size, so a parser that
must join two sections of a file (TRX results and definitions) stays bounded in memory.

Values are tuples of str, int, float, bool and None (stored with marshal, which cannot run code).
The first MEMORY_ITEMS values live in a dict; from the first value over that, every later value
goes to the file, so the values of one key keep their insertion order (memory ones first).
The file is SQLite's private temporary database: deleted when closed, page cache capped.
"""

from __future__ import annotations

import marshal
import sqlite3
from collections.abc import Iterator
from typing import Any

MEMORY_ITEMS = 20_000
_CACHE_KIB = 2048


class SpillMap:
    def __init__(self, memory_items: int | None = None) -> None:
        self._memory: dict[str, list[tuple[Any, ...]]] = {}
        self._room = MEMORY_ITEMS if memory_items is None else memory_items
        self._db: sqlite3.Connection | None = None
        self._seq = 0
        self._on_disk = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._memory.values()) + self._on_disk

    def add(self, key: str, value: tuple[Any, ...]) -> None:
        if self._db is None and self._room > 0:
            self._room -= 1
            values = self._memory.get(key)
            if values is None:
                self._memory[key] = [value]
            else:
                values.append(value)
            return
        db = self._db or self._open()
        self._seq += 1
        self._on_disk += 1
        db.execute("INSERT INTO spill VALUES (?, ?, ?)", (key, self._seq, marshal.dumps(tuple(value))))

    def get(self, key: str) -> list[tuple[Any, ...]]:
        values = list(self._memory.get(key, ()))
        if self._db is not None:
            rows = self._db.execute(
                "SELECT value FROM spill WHERE key = ? ORDER BY seq", (key,)
            ).fetchall()
            values.extend(marshal.loads(row[0]) for row in rows)
        return values

    def pop(self, key: str) -> list[tuple[Any, ...]]:
        values = self._memory.pop(key, None) or []
        if self._db is None:
            self._room += len(values)
            return values
        rows = self._db.execute(
            "DELETE FROM spill WHERE key = ? RETURNING seq, value", (key,)
        ).fetchall()
        if rows:
            self._on_disk -= len(rows)
            rows.sort()  # RETURNING has no defined order
            values.extend(marshal.loads(row[1]) for row in rows)
        return values

    def drain(self) -> Iterator[tuple[Any, ...]]:
        """Every value left, memory first, then the file in insertion order; empties the map."""
        memory, self._memory = self._memory, {}
        for values in memory.values():
            yield from values
        if self._db is not None:
            for (blob,) in self._db.execute("SELECT value FROM spill ORDER BY seq"):
                yield marshal.loads(blob)
            self._db.execute("DELETE FROM spill")
            self._on_disk = 0

    def clear(self) -> None:
        self._room += sum(len(v) for v in self._memory.values())
        self._memory.clear()
        if self._db is not None:
            self._db.execute("DELETE FROM spill")
            self._on_disk = 0

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _open(self) -> sqlite3.Connection:
        # "" = a private on-disk temporary database, removed on close.
        db = sqlite3.connect("", isolation_level=None)
        db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("CREATE TABLE spill (key TEXT NOT NULL, seq INTEGER NOT NULL, value BLOB)")
        db.execute("CREATE INDEX spill_key ON spill (key, seq)")
        db.execute("BEGIN")  # one transaction: no fsync per insert
        self._db = db
        return db
