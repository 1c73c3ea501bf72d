"""Result documents for tests: small JUnit XML and CTRF files written from plain parameters."""

from __future__ import annotations

import gzip
import json
from xml.sax.saxutils import quoteattr


def junit_xml(
    n: int = 3,
    *,
    failed: set[int] = frozenset(),
    skipped: set[int] = frozenset(),
    absent: set[int] = frozenset(),
    prefix: str = "tests.test_app.TestApp",
    timestamp: str = "2026-11-02T10:00:00Z",
    worker: str | None = None,
    message_size: int = 40,
) -> bytes:
    """A pytest-style JUnit document with tests test_0..test_{n-1}, but for the `absent` ones."""
    count = n - len(set(absent) & set(range(n)))
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<testsuites><testsuite name="pytest" tests="{count}" timestamp="{timestamp}">',
    ]
    for i in range(n):
        if i in absent:
            continue
        props = (
            f'<properties><property name="worker" value="{worker}"/></properties>' if worker else ""
        )
        body = ""
        if i in failed:
            msg = ("assert 1 == 2 " * (message_size // 14 + 1))[:message_size]
            body = f"<failure message={quoteattr(msg)}>Traceback: {msg}</failure>"
        elif i in skipped:
            body = '<skipped type="pytest.skip" message="not today"/>'
        parts.append(
            f'<testcase classname="{prefix}" name="test_{i}" file="tests/test_app.py" '
            f'time="0.{i % 1000:03d}">{props}{body}</testcase>'
        )
    parts.append("</testsuite></testsuites>")
    return "\n".join(parts).encode()


def ctrf_json(names: list[str], *, failed: set[str] = frozenset()) -> bytes:
    tests = [
        {"name": name, "status": "failed" if name in failed else "passed", "duration": 12}
        for name in names
    ]
    doc = {
        "reportFormat": "CTRF",
        "specVersion": "1.0.0",
        "results": {
            "tool": {"name": "pytest"},
            "summary": {
                "tests": len(tests),
                "passed": len(tests) - len(failed),
                "failed": len(failed),
                "pending": 0,
                "skipped": 0,
                "other": 0,
                "start": 1762077600000,
                "stop": 1762077601000,
            },
            "tests": tests,
        },
    }
    return json.dumps(doc).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
