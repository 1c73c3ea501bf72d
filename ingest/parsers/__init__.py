"""Format parsers: one module a format, each a generator of normalized TestRecords.

See ingest/parsers/records.py for the contract every parser module fulfils. Detection is by
content, never by file name: the first module in FORMATS whose sniff() accepts the head wins.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType
from typing import BinaryIO

from ingest.parsers.records import Outcome, ParseError, TestRecord

# Order matters only where two sniffers could both accept a file: the specific before the general.
FORMATS: tuple[str, ...] = (
    "junit",  # JUnit XML in all its dialects (testsuites / testsuite roots)
    "trx",  # Visual Studio TRX (TestRun)
    "nunit",  # NUnit 3 test-run and NUnit 2 test-results
    "xunit",  # xUnit.net v2 assemblies
    "ctrf",  # CTRF JSON, current and legacy
    "mocha",  # mocha --reporter json
    "rspec",  # rspec --format json
    "gotest",  # go test -json event stream
    "dart",  # dart test --reporter json event stream
)


def available_formats() -> dict[str, ModuleType]:
    """The format modules that exist in this build, in sniffing order."""
    found: dict[str, ModuleType] = {}
    for name in FORMATS:
        dotted = f"{__name__}.{name}"
        if importlib.util.find_spec(dotted) is not None:
            found[name] = importlib.import_module(dotted)
    return found


def detect(head: bytes) -> str | None:
    """The format name whose sniffer accepts `head`, or None."""
    for name, module in available_formats().items():
        if module.sniff(head):
            return name
    return None


def parse(fmt: str, stream: BinaryIO) -> Iterator[TestRecord]:
    return available_formats()[fmt].parse(stream)


__all__ = ["FORMATS", "Outcome", "ParseError", "TestRecord", "available_formats", "detect", "parse"]
