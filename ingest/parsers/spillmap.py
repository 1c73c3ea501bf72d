"""A multimap of small tuples that moves to a temporary SQLite file past a size, so a parser that
must join two sections of a file (TRX results and definitions) stays bounded in memory.

Values are tuples of str, int, float, bool and None (stored with marshal, which cannot run code).
The first MEMORY_ITEMS values live in a dict; from the first value over that, every later value
goes to the file, so the values of one key keep their insertion order (memory ones first).
The file is SQLite's private temporary database: deleted when closed, page cache capped.
Writes are batched and lookups can be (get_many/pop_many): one SQLite statement per BATCH keys
rather than one a key is what keeps a spilled join fast.
"""

from __future__ import annotations

import marshal
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

MEMORY_ITEMS = 20_000
BATCH = 500  # keys a statement; far below SQLite's variable limit
_CACHE_KIB = 2048

Value = tuple[Any, ...]


class SpillMap:
    def __init__(self, memory_items: int | None = None) -> None:
        self._memory: dict[str, list[Value]] = {}
        self._room = MEMORY_ITEMS if memory_items is None else memory_items
        self._db: sqlite3.Connection | None = None
        self._seq = 0
        self._on_disk = 0
        self._unwritten: list[tuple[str, int, bytes]] = []

    @property
    def spilled(self) -> bool:
        return self._db is not None

    def __len__(self) -> int:
        return sum(len(v) for v in self._memory.values()) + self._on_disk

    def add(self, key: str, value: Value) -> None:
        if self._db is None and self._room > 0:
            self._room -= 1
            values = self._memory.get(key)
            if values is None:
                self._memory[key] = [value]
            else:
                values.append(value)
            return
        if self._db is None:
            self._open()
        self._seq += 1
        self._on_disk += 1
        self._unwritten.append((key, self._seq, marshal.dumps(tuple(value))))
        if len(self._unwritten) >= BATCH:
            self._flush()

    def get(self, key: str) -> list[Value]:
        if self._db is None:
            return self._memory.get(key) or []
        return self.get_many([key])[key]

    def pop(self, key: str) -> list[Value]:
        if self._db is None:
            values = self._memory.pop(key, None) or []
            self._room += len(values)
            return values
        return self.pop_many([key])[key]

    def get_many(self, keys: Iterable[str]) -> dict[str, list[Value]]:
        found = {key: list(self._memory.get(key, ())) for key in keys}
        if self._db is not None:
            self._fetch(found, "SELECT key, seq, value FROM spill WHERE key IN ({})")
        return found

    def pop_many(self, keys: Iterable[str]) -> dict[str, list[Value]]:
        found: dict[str, list[Value]] = {}
        for key in keys:
            values = self._memory.pop(key, None) or []
            if self._db is None:
                self._room += len(values)
            found.setdefault(key, []).extend(values)
        if self._db is not None:
            self._on_disk -= self._fetch(
                found, "DELETE FROM spill WHERE key IN ({}) RETURNING key, seq, value"
            )
        return found

    def drain(self) -> Iterator[Value]:
        """Every value left, memory first, then the file in insertion order; empties the map."""
        memory, self._memory = self._memory, {}
        for values in memory.values():
            yield from values
        if self._db is not None:
            self._flush()
            for (blob,) in self._db.execute("SELECT value FROM spill ORDER BY seq"):
                yield marshal.loads(blob)
            self._db.execute("DELETE FROM spill")
            self._on_disk = 0

    def clear(self) -> None:
        self._room += sum(len(v) for v in self._memory.values())
        self._memory.clear()
        if self._db is not None:
            self._unwritten.clear()
            self._db.execute("DELETE FROM spill")
            self._on_disk = 0

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _fetch(self, found: dict[str, list[Value]], sql: str) -> int:
        """Append the file's values of `found`'s keys to it, in insertion order; the row count."""
        assert self._db is not None
        self._flush()
        keys = list(found)
        rows: list[tuple[str, int, bytes]] = []
        for start in range(0, len(keys), BATCH):
            chunk = keys[start : start + BATCH]
            rows.extend(self._db.execute(sql.format(",".join("?" * len(chunk))), chunk))
        rows.sort(key=lambda row: row[1])  # RETURNING and IN (...) promise no order
        for key, _, blob in rows:
            found[key].append(marshal.loads(blob))
        return len(rows)

    def _flush(self) -> None:
        if self._unwritten and self._db is not None:
            self._db.executemany("INSERT INTO spill VALUES (?, ?, ?)", self._unwritten)
            self._unwritten.clear()

    def _open(self) -> sqlite3.Connection:
        # "" = a private on-disk temporary database, removed on close.
        db = sqlite3.connect("", isolation_level=None)
        db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("CREATE TABLE spill (key TEXT NOT NULL, seq INTEGER NOT NULL, value BLOB)")
        db.execute("CREATE INDEX spill_key ON spill (key)")
        db.execute("BEGIN")  # one transaction: no fsync per insert
        self._db = db
        return db
