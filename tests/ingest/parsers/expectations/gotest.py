"""go test -json samples. Counts from the final pass/fail/skip events with a Test field,
checked against an independent json count; parents explained by their subtests are not tests."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.ingest.parsers.expectations import Expect

SUBTESTS = "_/home/james_t/git/test-reporter/reports/go"
FLAKY = "gotest.tools/gotestsum/testdata/e2e/flaky"

EXPECTED = {
    # One test with two t.Attr values; package-level events are not tests.
    "go-test-json/go-test-json-attr-action.jsonl": Expect(
        format="gotest",
        outcomes={"passed": 1},
        tests=1,
        attempts=1,
        timelines=frozenset({"gotest.tools/gotestsum/testjson/internal/withattributes"}),
        records=(
            {
                "name": "TestSomeAttributes",
                "properties": {"hello": "world", "other": "side"},
                "duration_ms": 0,
            },
        ),
    ),
    # No test events: the build failure is one error record for the package.
    "go-test-json/go-test-json-build-failed.jsonl": Expect(
        format="gotest",
        outcomes={"error": 1},
        tests=1,
        attempts=1,
        timelines=frozenset({"example.com/internal/cacher"}),
        records=(
            {
                "classname": "example.com/internal/cacher",
                "name": "[build failed]",
                "outcome": "error",
                "message": "# example.com/internal/cacher [example.com/internal/cacher.test]\n"
                "./directory_test.go:321:10: undefined: assert.foo",
            },
        ),
    ),
    # Initial run + 3 reruns: TestFailsRarely 2 attempts, TestFailsSometimes 3, TestFailsOften 4.
    "go-test-json/go-test-json-flaky-rerun.jsonl": Expect(
        format="gotest",
        outcomes={"passed": 6, "failed": 6},
        tests=6,
        attempts=12,
        retried=3,
        timelines=frozenset({FLAKY}),
        records=(
            {"name": "TestFailsOften", "attempt": 1, "outcome": "failed"},
            {"name": "TestFailsOften", "attempt": 3, "outcome": "failed"},
            {"name": "TestFailsOften", "attempt": 4, "outcome": "passed"},
            {"name": "TestFailsRarely", "attempt": 2, "outcome": "passed"},
            {
                "name": "TestFailsSometimes",
                "attempt": 1,
                "message": "SEED:  0\n    TestFailsSometimes: flaky_test.go:58: not this time",
            },
        ),
    ),
    # A garbage line between events is skipped; the test is intact.
    "go-test-json/go-test-json-nonjson-line.jsonl": Expect(
        format="gotest",
        outcomes={"passed": 1},
        tests=1,
        attempts=1,
        timelines=frozenset({"gotest.tools/gotestsum/testjson/internal/good"}),
        records=(
            {
                "classname": "gotest.tools/gotestsum/testjson/internal/good",
                "name": "TestPassed",
                "started_at": datetime(2021, 5, 12, 18, 53, 7, 462687, tzinfo=UTC),
            },
        ),
    ),
    # 6 top-level tests (pass, 3 fail, skip, TestCases) and 6 subtests of TestCases (4 pass,
    # 2 fail). TestCases failed only through its subtests: not a record of its own.
    "go-test-json/go-test-json-subtests.jsonl": Expect(
        format="gotest",
        outcomes={"passed": 5, "failed": 5, "skipped": 1},
        tests=11,
        attempts=11,
        timelines=frozenset({SUBTESTS}),
        records=(
            {
                "classname": SUBTESTS,
                "name": "TestCases/2_+_3_=_4",
                "outcome": "failed",
                "duration_ms": 90,
                "message": "calculator_test.go:67: expected 2 + 3 = 4, got 5",
            },
            {"name": "TestCases/1_+_2_=_3", "outcome": "passed", "duration_ms": 400},
            {
                "name": "TestFailing",
                "duration_ms": 890,
                "message": "calculator_test.go:19: expected 1+1 = 3, got 2",
            },
            {
                "name": "TestSkipped",
                "outcome": "skipped",
                "message": "calculator_test.go:45: skipping test",
            },
        ),
    ),
}
