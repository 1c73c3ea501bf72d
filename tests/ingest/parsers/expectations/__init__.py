"""Exact expectations for every file of the sample corpus (../shared/samples), one module a format.

Each module defines any of:

    EXPECTED = {"dir/file.xml": Expect(...)}   # files that parse
    ERRORS = {"dir/file.xml": Refused(...)}     # files that must be refused, with where

A sample file with no entry in any module fails the corpus test, so a new sample cannot slip in
untested.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Expect:
    format: str
    # Records by outcome over all attempts, e.g. {"passed": 3, "failed": 1}; zero counts omitted.
    outcomes: dict[str, int]
    tests: int  # distinct test identities
    attempts: int  # records in all (== sum of outcomes)
    timelines: frozenset[str] = frozenset({""})  # timeline values seen ("" = the file's own)
    retried: int = 0  # tests with more than one attempt
    # Spot checks: each dict's items must all equal the attributes of at least one record.
    # Keys are TestRecord fields, plus "attempt" and "outcome" (as the lower-case label).
    records: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Refused:
    code: str  # ParseError.code
    line: int | None = None
    column: int | None = None
    detail_contains: str = ""


def load() -> tuple[dict[str, tuple[str, Expect]], dict[str, tuple[str, Refused]]]:
    """All expectations keyed by sample path, each with the module that declared it."""
    expected: dict[str, tuple[str, Expect]] = {}
    errors: dict[str, tuple[str, Refused]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for path, exp in getattr(module, "EXPECTED", {}).items():
            assert path not in expected and path not in errors, f"{path} declared twice"
            expected[path] = (info.name, exp)
        for path, ref in getattr(module, "ERRORS", {}).items():
            assert path not in expected and path not in errors, f"{path} declared twice"
            errors[path] = (info.name, ref)
    return expected, errors
