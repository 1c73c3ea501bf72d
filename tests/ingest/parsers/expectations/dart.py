"""Dart JSON reporter sample. Counts from the testDone events without hidden: true (two hidden
"loading" pseudo-tests are dropped)."""

from __future__ import annotations

from tests.ingest.parsers.expectations import Expect

EXPECTED = {
    "dart/dart-test-json-reporter.jsonl": Expect(
        format="dart",
        outcomes={"passed": 1, "failed": 1, "error": 3, "skipped": 1},
        tests=6,
        attempts=6,
        timelines=frozenset({"test/main_test.dart", "test/second_test.dart"}),
        records=(
            # group names are part of the Dart test name; file is the suite path
            {
                "classname": "test/main_test.dart",
                "file": "test/main_test.dart",
                "name": "Test 1 Test 1.1 Failing test",
                "outcome": "failed",
                "line": 12,
                "duration_ms": 20,  # testDone 3736 - testStart 3716
                "message": "Expected: <2>\n  Actual: <1>",
            },
            # result "error" is distinct from "failure"
            {"name": "Timeout test", "outcome": "error", "duration_ms": 37},
            # skip via metadata.skip + testDone.skipped
            {"name": "Skipped test", "outcome": "skipped", "message": "skipped test"},
        ),
    ),
}
