"""Test identity: which records, from any format and any run, are the same test.

A test is identified within its project by (scope, name):
  - scope is the classname when the format gives one, else the file path, else the suite path;
  - both are whitespace-trimmed.
The database id is a 63-bit BLAKE2b hash of (project id, scope, name), so every writer computes
the same id without a lookup. docs/identity.md explains the rules to users.
"""

from __future__ import annotations

import hashlib

from ingest.parsers.records import TestRecord

_SEP = "\x1f"


def identity(record: TestRecord) -> tuple[str, str]:
    scope = record.classname.strip() or record.file.strip() or record.suite.strip()
    return scope, record.name.strip()


def test_id(project_id: int, ident: tuple[str, str]) -> int:
    digest = hashlib.blake2b(
        f"{project_id}{_SEP}{ident[0]}{_SEP}{ident[1]}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


test_id.__test__ = False  # type: ignore[attr-defined]
