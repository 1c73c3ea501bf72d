"""RSpec JSON parser: identity, outcomes, errors outside examples, error positions."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ingest.parsers import mocha, rspec
from ingest.parsers.records import Outcome, ParseError, TestRecord


def ex(description: str, full: str, status: str = "passed", **extra: Any) -> dict[str, Any]:
    return {
        "id": "./spec/a_spec.rb[1:1]",
        "description": description,
        "full_description": full,
        "status": status,
        "file_path": "./spec/a_spec.rb",
        "line_number": 7,
        "run_time": 0.25,
        "pending_message": None,
        **extra,
    }


def doc(
    examples: list[dict[str, Any]], outside: int = 0, messages: list[str] | None = None
) -> bytes:
    return json.dumps(
        {
            "version": "3.13.0",
            "messages": messages or [],
            "seed": 1,
            "examples": examples,
            "summary": {
                "example_count": len(examples),
                "errors_outside_of_examples_count": outside,
            },
        },
        indent=2,
    ).encode()


def parse(data: bytes) -> list[TestRecord]:
    return list(rspec.parse(io.BytesIO(data)))


def test_fields() -> None:
    records = parse(
        doc(
            [
                ex("works", "Cart#total works"),
                ex(
                    "breaks",
                    "Cart#total breaks",
                    "failed",
                    exception={
                        "class": "RSpec::Expectations::ExpectationNotMetError",
                        "message": "expected 2",
                        "backtrace": ["a.rb:1", "b.rb:2"],
                    },
                ),
                ex("later", "Cart later", "pending", pending_message="not yet"),
                ex("odd", "something else entirely"),
            ]
        )
    )
    assert [(r.classname, r.name, r.outcome) for r in records] == [
        ("Cart#total", "works", Outcome.PASSED),
        ("Cart#total", "breaks", Outcome.FAILED),
        ("Cart", "later", Outcome.SKIPPED),
        ("", "something else entirely", Outcome.PASSED),
    ]
    failed = records[1]
    assert failed.message == "RSpec::Expectations::ExpectationNotMetError: expected 2"
    assert failed.output == "a.rb:1\nb.rb:2"
    assert (failed.file, failed.line, failed.duration_ms) == ("./spec/a_spec.rb", 7, 250)
    assert records[2].message == "not yet"


def test_errors_outside_examples_are_one_error_record() -> None:
    records = parse(
        doc(
            [ex("works", "A works")],
            outside=1,
            messages=["An error occurred while loading ./spec/b_spec.rb."],
        )
    )
    assert [(r.name, r.outcome) for r in records] == [
        ("works", Outcome.PASSED),
        ("[errors outside of examples]", Outcome.ERROR),
    ]
    assert records[1].message == "An error occurred while loading ./spec/b_spec.rb."


def test_truncated_document_is_refused_at_its_end() -> None:
    cut = doc([ex("works", "A works")])[:120]
    with pytest.raises(ParseError) as caught:
        parse(cut)
    lines = cut.decode().split("\n")
    assert caught.value.code == "malformed_json"
    assert (caught.value.line, caught.value.column) == (len(lines), len(lines[-1]) + 1)


def test_malformed_document_is_refused_with_its_position() -> None:
    data = doc([ex("works", "A works")]).replace(b'"seed": 1', b'"seed": 1,,')
    with pytest.raises(ParseError) as caught:
        parse(data)
    text = data.decode().split("\n")
    line = next(i for i, s in enumerate(text, 1) if ",," in s)
    assert caught.value.code == "malformed_json"
    assert (caught.value.line, caught.value.column) == (line, text[line - 1].index(",,") + 2)


def test_sniff() -> None:
    assert rspec.sniff(doc([]))
    assert rspec.sniff(b'{"version":"3.12.0","seed":5,"examples":[{"id":')
    assert not rspec.sniff(b'{"stats":{},"tests":[],"examples":[]}')
    assert not mocha.sniff(doc([]))
