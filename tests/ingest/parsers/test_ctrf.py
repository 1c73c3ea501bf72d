"""CTRF edge cases the sample corpus does not cover: broken JSON at a known position (also across
the parser's 64 KB blocks), documents that are JSON but not CTRF, attempts, and bounded memory."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ingest.parsers import ctrf
from ingest.parsers.records import Outcome, ParseError, TestRecord
from tests.ingest.parsers.heap import c_heap_in_use


def parse(data: bytes) -> list[TestRecord]:
    return list(ctrf.parse(io.BytesIO(data)))


def refused(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(data)
    return caught.value


def report(tests: list[dict[str, Any]], **results: Any) -> bytes:
    return json.dumps(
        {
            "results": {
                "tool": {"name": "t"},
                "summary": {"tests": len(tests)},
                "tests": tests,
                **results,
            }
        },
        indent=2,
        ensure_ascii=False,
    ).encode()


def where(data: bytes, marker: bytes) -> tuple[int, int]:
    """1-based line and character column of the first byte of `marker` in `data`."""
    before = data[: data.index(marker)].decode("utf-8")
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


# --- sniffing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "accepted"),
    [
        (b'{"reportFormat": "CTRF", "specVersion": "1.0.0", "results": {', True),
        (b'{\n  "results": {\n    "tool": {"name": "jest"},', True),
        (b'{"results": {"tests": [', True),
        (b'{"stats": {"suites": 1}, "tests": [], "passes": [], "results": 1}', False),  # mocha
        (b'{"version": "3.13.0", "examples": [{"results": 1, "tests": 2}]}', False),  # rspec
        (b'{"results": 3}', False),
        (b'[{"results": {"tool": {}}}]', False),
        (b"<testsuites>", False),
    ],
)
def test_sniff(head: bytes, accepted: bool) -> None:
    assert ctrf.sniff(head) is accepted


# --- broken input, with where -------------------------------------------------------------------


def test_invalid_utf8_in_the_middle_reports_line_and_column() -> None:
    tests = [{"name": f"tést {i}", "status": "passed", "duration": i} for i in range(3000)]
    data = report(tests).replace(b'"t\xc3\xa9st 2500"', b'"t\xe9st 2500"')  # a Latin-1 é
    error = refused(data)
    assert error.code == "malformed_json"
    assert (error.line, error.column) == where(data, b"\xe9st 2500")


def test_invalid_utf8_split_across_blocks_is_placed_on_its_first_byte() -> None:
    tests = [{"name": "x" * 100, "status": "passed", "duration": 1} for _ in range(1000)]
    data = bytearray(report(tests))
    cut = 2 * ctrf._CHUNK - 1  # a character starting on the last byte of the second block
    start = data.index(b"x" * 50, cut - 40)
    assert start < cut < start + 50
    data[cut : cut + 2] = b"\xe2x"  # a three-byte lead followed by an ASCII byte
    error = refused(bytes(data))
    assert error.code == "malformed_json"
    assert (error.line, error.column) == where(bytes(data), b"\xe2x")


def test_truncated_json_reports_the_end() -> None:
    data = report([{"name": "a", "status": "passed", "duration": 1}])[:-30]
    error = refused(data)
    assert error.code == "malformed_json"
    assert "ends too early" in error.detail
    text = data.decode()
    assert (error.line, error.column) == (text.count("\n") + 1, len(text) - text.rfind("\n"))


@pytest.mark.parametrize("index", [10, 2500])  # the first block and a later one
def test_a_syntax_error_is_placed_on_the_offending_character(index: int) -> None:
    tests = [{"name": f"test {i}", "status": "passed", "duration": i} for i in range(3000)]
    data = report(tests).replace(b'"name": "test %d"' % index, b'"name": "test %d" ?' % index)
    error = refused(data)
    assert error.code == "malformed_json"
    assert (error.line, error.column) == where(data, b"?")


def test_a_syntax_error_at_the_start_of_a_block() -> None:
    tests = [{"name": "x" * 100, "status": "passed", "duration": 1} for _ in range(1000)]
    data = bytearray(report(tests))
    at = data.index(b'"status"', ctrf._CHUNK) - 1  # the space before a key, just past a block
    at_block = at - ctrf._CHUNK
    assert at_block < 30 or data.index(b'"status"', ctrf._CHUNK) < ctrf._CHUNK + 200
    data[at : at + 1] = b"!"
    error = refused(bytes(data))
    assert (error.line, error.column) == where(bytes(data), b"!")


def test_an_ambiguous_error_context_gives_no_position_rather_than_a_wrong_one() -> None:
    # The same mistake in identical tests: yajl's 60-byte context around the first one occurs
    # again and again in the block, so nothing tells which occurrence it was.
    tests = [{"name": "same", "status": "passed", "duration": 1}] * 200
    data = report(tests).replace(b'"duration": 1', b'"duration": 1x')
    error = refused(data)
    assert error.code == "malformed_json"
    assert (error.line, error.column) == (None, None)


def test_trailing_garbage_is_refused() -> None:
    data = report([]) + b"\n{}"
    error = refused(data)
    assert error.code == "malformed_json"
    assert error.line == data.count(b"\n") + 1


def test_a_bom_is_ignored_and_not_counted_in_columns() -> None:
    good = report([{"name": "a", "status": "passed", "duration": 1}])
    assert [r.name for r in parse(b"\xef\xbb\xbf" + good)] == ["a"]
    bad = good.replace(b'"name": "a"', b'"name": "a" x')
    error = refused(b"\xef\xbb\xbf" + bad)
    assert (error.line, error.column) == where(bad, b"x")


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        (b"[1, 2, 3]", "not an object"),
        (b'"CTRF"', "not an object"),
        (b'{"stats": {}, "tests": []}', "no `results`"),
        (b'{"results": [1]}', "`results` is not an object"),
        (b'{"results": {"tool": {"name": "x"}, "summary": {}}}', "no `tests` array"),
        (b'{"results": {"tests": {"a": 1}}}', "`results.tests` is not an array"),
        # Tests as the schema requires them: objects with a name and a status.
        (
            b'{"results": {"tool": {"name": "x"}, "tests": [1, "a", null]}}',
            "results.tests[0] is not an object",
        ),
        (
            b'{"results": {"tests": [{"name": "a", "status": "passed"}, {"status": "passed"}]}}',
            "results.tests[1] has no `name` string",
        ),
        (
            b'{"results": {"tests": [{"name": {"a": 1}, "status": "passed"}]}}',
            "results.tests[0] has no `name` string",
        ),
        (
            b'{"results": {"tests": [{"name": "a", "status": null}]}}',
            "results.tests[0] has no `status` string",
        ),
        (
            b'{"results": {"tests": [{"name": " ", "status": "passed"}]}}',
            "results.tests[0] has no `name` string",
        ),
    ],
)
def test_json_that_is_not_ctrf(document: bytes, detail: str) -> None:
    error = refused(document)
    assert error.code == "not_ctrf"
    assert detail in error.detail


def test_summary_and_environment_may_come_after_the_tests() -> None:
    data = json.dumps(
        {
            "results": {
                "tests": [{"name": "a", "status": "failed", "duration": 3, "message": "m"}],
                "summary": {"tests": 1, "failed": 1},
                "environment": {"branchName": "main"},
            },
            "reportFormat": "CTRF",
        }
    ).encode()
    (record,) = parse(data)
    assert (record.outcome, record.message) == (Outcome.FAILED, "m")


# --- fields, outcomes and attempts --------------------------------------------------------------


def test_fields() -> None:
    (record,) = parse(
        report(
            [
                {
                    "name": "renders",
                    "status": "failed",
                    "start": 1_700_000_000_000,
                    "stop": 1_700_000_001_250,
                    "suite": ["ui", "", "button"],
                    "filePath": "src/b.test.ts",
                    "line": 12,
                    "threadId": "w3",
                    "trace": "Error: boom\n  at b.ts:3",
                    "stdout": ["out 1", "out 2"],
                    "stderr": ["err"],
                    "tags": ["smoke", "ui"],
                    "labels": {"owner": "web", "nested": {"no": 1}},
                    "browser": "firefox",
                }
            ]
        )
    )
    assert record.duration_ms == 1250  # from stop - start, as duration is missing
    assert record.started_at is not None and record.started_at.year == 2023
    assert (record.suite, record.file, record.line, record.timeline) == (
        "ui / button",
        "src/b.test.ts",
        12,
        "w3",
    )
    assert record.message == "Error: boom"  # no message: the trace's first line
    assert record.output == "Error: boom\n  at b.ts:3\nout 1\nout 2\nerr"
    assert record.properties == {"browser": "firefox", "tags": "smoke, ui", "labels.owner": "web"}
    assert record.classname == ""


@pytest.mark.parametrize(
    ("status", "outcome", "raw"),
    [
        ("passed", Outcome.PASSED, None),
        ("failed", Outcome.FAILED, None),
        ("skipped", Outcome.SKIPPED, None),
        ("pending", Outcome.SKIPPED, "pending"),
        ("other", Outcome.SKIPPED, "other"),
        ("timedOut", Outcome.SKIPPED, "timedOut"),
    ],
)
def test_statuses(status: str | None, outcome: Outcome, raw: str | None) -> None:
    (record,) = parse(report([{"name": "a", "status": status, "duration": 1}]))
    assert record.outcome is outcome
    assert record.properties.get("ctrf.status") == raw


def _attempts(test: dict[str, Any]) -> list[tuple[Outcome, int | None, str]]:
    return [(r.outcome, r.duration_ms, r.message) for r in parse(report([test]))]


def test_retry_attempts_including_the_final_one_are_not_counted_twice() -> None:
    assert _attempts(
        {
            "name": "a",
            "status": "passed",
            "duration": 999,
            "retries": 1,
            "flaky": True,
            "retryAttempts": [
                {"attempt": 2, "status": "passed", "duration": 20},
                {"attempt": 1, "status": "failed", "duration": 10, "message": "first"},
            ],
        }
    ) == [(Outcome.FAILED, 10, "first"), (Outcome.PASSED, 20, "")]


def test_retry_attempts_listing_only_earlier_runs() -> None:
    assert _attempts(
        {
            "name": "a",
            "status": "passed",
            "duration": 30,
            "retries": 2,
            "message": "",
            "retryAttempts": [
                {"attempt": 1, "status": "failed", "duration": 10, "message": "one"},
                {"attempt": 2, "status": "failed", "duration": 20, "trace": "two\nmore"},
            ],
        }
    ) == [(Outcome.FAILED, 10, "one"), (Outcome.FAILED, 20, "two"), (Outcome.PASSED, 30, "")]


def test_retry_attempts_without_retries_compare_the_last_status() -> None:
    earlier_only = {
        "name": "a",
        "status": "passed",
        "duration": 5,
        "retryAttempts": [{"attempt": 1, "status": "failed", "duration": 4}],
    }
    with_final = {
        "name": "a",
        "status": "failed",
        "duration": 5,
        "message": "final",
        "retryAttempts": [
            {"attempt": 1, "status": "failed", "duration": 4},
            {"attempt": 2, "status": "failed", "duration": 6},
        ],
    }
    assert _attempts(earlier_only) == [(Outcome.FAILED, 4, ""), (Outcome.PASSED, 5, "")]
    assert _attempts(with_final) == [(Outcome.FAILED, 4, ""), (Outcome.FAILED, 6, "final")]


def test_legacy_retries_of_a_failed_test_are_failed_attempts() -> None:
    records = parse(
        report(
            [
                {
                    "name": "a",
                    "status": "failed",
                    "duration": 7,
                    "retries": 2,
                    "message": "still broken",
                }
            ]
        )
    )
    assert [(r.outcome, r.duration_ms, r.message) for r in records] == [
        (Outcome.FAILED, None, ""),
        (Outcome.FAILED, None, ""),
        (Outcome.FAILED, 7, "still broken"),
    ]
    assert [r.properties.get(ctrf.INFERRED_ATTEMPT) for r in records] == ["true", "true", None]


@pytest.mark.parametrize(
    ("test", "attempts"),
    [
        ({"status": "passed", "flaky": True}, 2),  # at least one failure before the pass
        ({"status": "passed", "flaky": True, "retries": 0}, 2),
        ({"status": "passed", "flaky": False, "retries": 0}, 1),
        ({"status": "skipped", "retries": 3}, 1),  # nothing can be inferred about skips
        ({"status": "other", "flaky": True}, 1),
    ],
)
def test_legacy_flaky_flag(test: dict[str, Any], attempts: int) -> None:
    assert len(parse(report([{"name": "a", "duration": 1, **test}]))) == attempts


def test_a_non_object_entry_after_real_tests_refuses_the_file() -> None:
    error = refused(report([{"name": "real", "status": "passed", "duration": 1}, "two"]))
    assert (error.code, error.detail) == (
        "not_ctrf",
        "results.tests[1] is not an object, so this is not CTRF",
    )


# --- memory -------------------------------------------------------------------------------------

TESTS = 100_000


def _write_large_report(path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write('{"reportFormat": "CTRF", "specVersion": "1.0.0", "results": {\n')
        out.write(' "tool": {"name": "jest"},\n "environment": {"branchName": "main"},\n')
        out.write(' "tests": [\n')
        for i in range(TESTS):
            # Few but long values: the size of a real report with fewer objects to trace.
            test: dict[str, Any] = {
                "name": f"Component{i % 97} > rendering > renders variant {i} of the component "
                "without crashing when given the default props",
                "status": "failed" if i % 20 == 0 else "passed",
                "duration": i % 1000,
                "filePath": f"src/components/very/deeply/nested/Component{i % 97}.test.tsx",
                "threadId": f"worker-{i % 4}",
            }
            if i % 20 == 0:
                test["message"] = f"expected {i} to be 0"
            out.write(("," if i else "") + json.dumps(test) + "\n")
        out.write(f' ],\n "summary": {{"tests": {TESTS}}}\n}}}}\n')


def test_memory_stays_bounded_on_a_large_report(tmp_path: Path) -> None:
    path = tmp_path / "large.json"
    _write_large_report(path)
    assert path.stat().st_size > 20_000_000

    failed = count = 0
    timelines: set[str] = set()
    base = c_heap_in_use()
    peak_heap = base or 0
    tracemalloc.start()
    try:
        with path.open("rb") as raw:
            for record in ctrf.parse(io.BufferedReader(raw, 256 * 1024)):
                count += 1
                failed += record.outcome is Outcome.FAILED
                timelines.add(record.timeline)
                if count % 5000 == 0 and base is not None:
                    peak_heap = max(peak_heap, c_heap_in_use() or 0)
        _, peak_traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (count, failed) == (TESTS, TESTS // 20)
    assert timelines == {f"worker-{n}" for n in range(4)}
    assert peak_traced < 20 * 2**20  # the tests array is never held: one block and one test
    if base is not None:
        assert peak_heap - base < 20 * 2**20
