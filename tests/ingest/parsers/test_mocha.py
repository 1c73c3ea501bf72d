"""mocha JSON parser: outcomes, retries, hook failures, error positions."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ingest.parsers import jsonstream, mocha, rspec
from ingest.parsers.records import Outcome, ParseError, TestRecord


def t(
    title: str,
    full: str,
    duration: int | None = 5,
    err: dict[str, Any] | None = None,
    retry: int = 0,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "title": title,
        "fullTitle": full,
        "file": "/r/test/a.spec.js",
        "currentRetry": retry,
        "err": err or {},
    }
    if duration is not None:
        item["duration"] = duration
    return item


def doc(tests: list[dict[str, Any]], failures: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(
        {
            "stats": {"tests": len(tests)},
            "tests": tests,
            "pending": [],
            "failures": failures or [],
            "passes": [],
        },
        indent=2,
    ).encode()


def parse(data: bytes) -> list[TestRecord]:
    return list(mocha.parse(io.BytesIO(data)))


def test_outcomes_and_classname() -> None:
    records = parse(
        doc(
            [
                t("passes", "Suite A passes"),
                t(
                    "fails",
                    "Suite A inner fails",
                    err={"message": "expected 1", "stack": "Error: x\n  at y"},
                ),
                t("pending", "Suite A pending", duration=None),
                t("top", "top"),
            ]
        )
    )
    assert [(r.classname, r.name, r.outcome) for r in records] == [
        ("Suite A", "passes", Outcome.PASSED),
        ("Suite A inner", "fails", Outcome.FAILED),
        ("Suite A", "pending", Outcome.SKIPPED),
        ("", "top", Outcome.PASSED),
    ]
    assert (records[1].message, records[1].output) == ("expected 1", "Error: x\n  at y")
    assert records[0].file == "/r/test/a.spec.js"


def test_retries_become_earlier_failed_attempts() -> None:
    records = parse(doc([t("flaky", "S flaky", retry=2)]))
    assert [(r.name, r.outcome, r.message) for r in records] == [
        ("flaky", Outcome.FAILED, "failed before retry"),
        ("flaky", Outcome.FAILED, "failed before retry"),
        ("flaky", Outcome.PASSED, ""),
    ]


def test_a_hook_failure_only_in_failures_is_an_error() -> None:
    hook = t('"before all" hook for "x"', 'S "before all" hook for "x"', err={"message": "db down"})
    repeated = t("fails", "S fails", err={"message": "m"})
    records = parse(doc([repeated], failures=[repeated, hook]))
    assert [(r.classname, r.name, r.outcome) for r in records] == [
        ("S", "fails", Outcome.FAILED),
        ("S", '"before all" hook for "x"', Outcome.ERROR),
    ]


def test_a_bom_is_skipped() -> None:
    assert len(parse(b"\xef\xbb\xbf" + doc([t("a", "a")]))) == 1


def test_truncated_document_is_refused_at_its_end() -> None:
    data = doc([t("a", "S a"), t("b", "S b")])
    cut = data[:-40]
    with pytest.raises(ParseError) as caught:
        parse(cut)
    lines = cut.decode().split("\n")
    assert caught.value.code == "malformed_json"
    assert (caught.value.line, caught.value.column) == (len(lines), len(lines[-1]) + 1)


def test_garbage_is_refused_with_its_line_and_column() -> None:
    data = doc([t("a", "S a"), t("b", "S b")]).replace(b'"title": "b"', b'"title": b!')
    with pytest.raises(ParseError) as caught:
        parse(data)
    text = data.decode().split("\n")
    line = next(i for i, s in enumerate(text, 1) if "b!" in s)
    assert caught.value.code == "malformed_json"
    assert (caught.value.line, caught.value.column) == (line, text[line - 1].index("b!") + 1)


def test_an_error_deep_in_a_large_document_is_located(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK", 1000)  # many blocks; the error is far from the start
    tests = [t(f"t{i}", f"S é t{i}") for i in range(200)]
    data = doc(tests).replace(b'"title": "t150"', b'"title": ?t150')
    with pytest.raises(ParseError) as caught:
        parse(data)
    text = data.decode().split("\n")
    line = next(i for i, s in enumerate(text, 1) if "?t150" in s)
    assert (caught.value.line, caught.value.column) == (line, text[line - 1].index("?") + 1)


def test_invalid_utf8_is_refused_with_its_position() -> None:
    data = doc([t("a", "S a")]).replace(b'"title": "a"', b'"title": "\xff"')
    with pytest.raises(ParseError) as caught:
        parse(data)
    text = data.split(b"\n")
    line = next(i for i, s in enumerate(text, 1) if b"\xff" in s)
    assert caught.value.code == "malformed_json"
    assert (caught.value.line, caught.value.column) == (line, text[line - 1].index(b"\xff") + 1)


def test_sniff() -> None:
    assert mocha.sniff(doc([t("a", "a")]))
    assert mocha.sniff(b'{"stats":{"suites":1},"tests":[')
    assert not mocha.sniff(b'{\n  "version": "3.13.0",\n  "examples": [')
    assert not mocha.sniff(b'{"results": {"tool": {"name": "mocha"}, "summary": {}, "tests": []}}')
    assert not rspec.sniff(doc([t("a", "a")]))
