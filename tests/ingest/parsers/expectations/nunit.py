"""NUnit samples. Counts read from the test-case elements only (suites repeat failures), checked
against an independent xml.etree count."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.ingest.parsers.expectations import Expect

EXPECTED = {
    # 9 test-cases: Passed x3, Failed+label Error x2, Failed x2, Failed with a timeout label,
    # Skipped+Ignored. The 5 failing test-suites around them are not tests.
    "nunit/nunit3-test-results.xml": Expect(
        format="nunit",
        outcomes={"passed": 3, "failed": 3, "error": 2, "skipped": 1},
        tests=9,
        attempts=9,
        records=(
            {
                "classname": "DotnetTests.XUnitTests.CalculatorTests",
                "name": "Exception_In_TargetTest",
                "outcome": "error",
                "message": "System.DivideByZeroException : Attempted to divide by zero.",
            },
            # ParameterizedMethod rows are distinct tests
            {"name": "Is_Even_Number(2)", "outcome": "passed"},
            {"name": "Is_Even_Number(3)", "outcome": "failed"},
            # a label that is a message, not a keyword
            {
                "name": "Timeout_Test",
                "outcome": "failed",
                "message": "Test exceeded Timeout value 1ms.",
                "properties": {"Timeout": "1"},
            },
            {"name": "Skipped_Test", "outcome": "skipped", "message": "Skipped"},
            {
                "name": "Failing_Test",
                "started_at": datetime(2021, 6, 28, 20, 23, 41, 493591, tzinfo=UTC),
            },
        ),
    ),
    # NUnit 2: executed=True success=False, fully qualified name split into class and method,
    # non-ASCII failure message.
    "nunit/nunit2-test-results-unicode.xml": Expect(
        format="nunit",
        outcomes={"failed": 1},
        tests=1,
        attempts=1,
        records=(
            {
                "classname": "UnitTests.UnicodeClassTest",
                "name": "TestFailure",
                "duration_ms": 92,
                "message": "Expected failure\n  Expected: ü\n  But was:  â",
                "file": "/home/erik/coding/test/nunittests/Tests.dll",
            },
        ),
    ),
}
