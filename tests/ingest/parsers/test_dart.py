"""Dart JSON reporter parser: hidden tests, load failures, cut streams, errors."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ingest.parsers import dart, gotest
from ingest.parsers.records import Outcome, ParseError, TestRecord

START = {
    "protocolVersion": "0.1.1",
    "runnerVersion": "1.25.0",
    "pid": 1,
    "type": "start",
    "time": 0,
}


def suite(sid: int, path: str) -> dict[str, Any]:
    return {"suite": {"id": sid, "platform": "vm", "path": path}, "type": "suite", "time": 0}


def start(tid: int, name: str, sid: int = 0, time: int = 10, **meta: Any) -> dict[str, Any]:
    return {
        "test": {
            "id": tid,
            "name": name,
            "suiteID": sid,
            "groupIDs": [],
            "metadata": {"skip": meta.get("skip", False), "skipReason": meta.get("reason")},
            "line": 4,
            "column": 3,
            "root_line": meta.get("root_line"),
        },
        "type": "testStart",
        "time": time,
    }


def done(tid: int, result: str = "success", time: int = 25, **flags: Any) -> dict[str, Any]:
    return {
        "testID": tid,
        "result": result,
        "skipped": flags.get("skipped", False),
        "hidden": flags.get("hidden", False),
        "type": "testDone",
        "time": time,
    }


def stream(*events: dict[str, Any] | str) -> bytes:
    return "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events).encode()


def parse(data: bytes) -> list[TestRecord]:
    return list(dart.parse(io.BytesIO(data)))


def test_hidden_loading_tests_are_dropped_but_a_failed_load_is_kept() -> None:
    records = parse(
        stream(
            START,
            suite(0, "test\\a_test.dart"),
            suite(1, "test/b_test.dart"),
            start(1, "loading test/a_test.dart"),
            done(1, hidden=True),
            start(2, "loading test/b_test.dart", sid=1),
            {
                "testID": 2,
                "error": "Compilation failed",
                "stackTrace": "",
                "isFailure": False,
                "type": "error",
                "time": 30,
            },
            done(2, "error"),
        )
    )
    assert [(r.classname, r.name, r.outcome) for r in records] == [
        ("test/b_test.dart", "loading test/b_test.dart", Outcome.ERROR)
    ]
    assert records[0].message == "Compilation failed"


def test_fields_of_a_failure() -> None:
    (record,) = parse(
        stream(
            START,
            suite(0, "test\\a_test.dart"),
            start(5, "group one fails", root_line=40),
            {
                "testID": 5,
                "messageType": "print",
                "message": "printed",
                "type": "print",
                "time": 12,
            },
            {
                "testID": 5,
                "error": "Expected: <2>",
                "stackTrace": "a_test.dart 9:3",
                "isFailure": True,
                "type": "error",
                "time": 20,
            },
            {
                "testID": 5,
                "error": "second",
                "stackTrace": "",
                "isFailure": True,
                "type": "error",
                "time": 21,
            },
            done(5, "failure", time=35),
        )
    )
    assert (record.classname, record.file, record.timeline) == ("test/a_test.dart",) * 3
    assert (record.name, record.outcome, record.line) == ("group one fails", Outcome.FAILED, 40)
    assert record.duration_ms == 25
    assert record.message == "Expected: <2>"
    assert record.output == "printed\na_test.dart 9:3\nsecond"


def test_skips() -> None:
    records = parse(
        stream(
            START,
            suite(0, "t.dart"),
            start(1, "meta skip", skip=True, reason="not on CI"),
            done(1),
            start(2, "done skip"),
            done(2, skipped=True),
        )
    )
    assert [(r.name, r.outcome, r.message) for r in records] == [
        ("meta skip", Outcome.SKIPPED, "not on CI"),
        ("done skip", Outcome.SKIPPED, ""),
    ]


def test_a_test_never_done_is_failed_at_the_end() -> None:
    data = stream(START, suite(0, "t.dart"), start(1, "ok"), done(1), start(2, "hangs"))
    data += b'{"testID":2,"result":"succ'
    records = parse(data)
    assert [(r.name, r.outcome) for r in records] == [
        ("ok", Outcome.PASSED),
        ("hangs", Outcome.FAILED),
    ]
    assert "no result" in records[1].message


def test_invalid_utf8_is_refused_with_line_and_column() -> None:
    with pytest.raises(ParseError) as caught:
        parse(stream(START) + b"\xff\n")
    assert (caught.value.code, caught.value.line, caught.value.column) == ("malformed_json", 2, 1)


def test_no_json_event_is_refused() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b"Running tests...\n")
    assert (caught.value.code, caught.value.line, caught.value.column) == ("malformed_json", 1, 1)


def test_sniff() -> None:
    assert dart.sniff(stream(START, suite(0, "t.dart")))
    assert dart.sniff(stream(start(1, "x")))
    assert not dart.sniff(b'{"Time":"2024-01-01T00:00:00Z","Action":"run","Package":"p"}\n')
    assert not dart.sniff(b'{\n  "stats": {"suites": 1},\n  "tests": []\n}')
    assert not gotest.sniff(stream(START))
