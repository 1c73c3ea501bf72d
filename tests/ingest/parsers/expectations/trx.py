"""TRX samples. Counts read from each file's UnitTestResult elements (outcome attributes) and
checked against an independent xml.etree count; names follow ingest.parsers.dotnetnames."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.ingest.parsers.expectations import Expect

EXPECTED = {
    # Results come before TestDefinitions: every result is joined by testId to its TestMethod.
    # 5 Passed, 5 Failed, 1 NotExecuted; theory rows and custom display names stay 11 tests.
    "trx/dotnet-test-xunit-trx.trx": Expect(
        format="trx",
        outcomes={"passed": 5, "failed": 5, "skipped": 1},
        tests=11,
        attempts=11,
        records=(
            # the join: the class is only in TestDefinitions
            {
                "classname": "DotnetTests.XUnitTests.CalculatorTests",
                "name": "Failing_Test",
                "outcome": "failed",
                "duration_ms": 4,  # 00:00:00.0038697
                "started_at": datetime(2021, 4, 20, 6, 31, 32, 974263, tzinfo=UTC),
                "message": "Assert.Equal() Failure\r\nExpected: 3\r\nActual:   2",
            },
            # a custom display name on a theory row: method plus the row's arguments
            {"name": "Theory_With_Custom_Name(i: 3)", "outcome": "failed"},
            # a custom display name on a fact: the method
            {"name": "Passing_Test_With_Name", "outcome": "passed"},
            # TimeSpan duration 00:00:00.1084258
            {"name": "Timeout_Test", "duration_ms": 108},
            {"name": "Skipped_Test", "outcome": "skipped", "output": "Skipped test"},
        ),
    ),
    # <Results/> and <TestDefinitions/> are empty: nothing, and no error.
    "trx/empty-test-definitions.trx": Expect(
        format="trx", outcomes={}, tests=0, attempts=0, timelines=frozenset()
    ),
    # ResultSummary and TestDefinitions before Results; assembly-qualified className.
    "trx/mstest-vs2010-pickles.trx": Expect(
        format="trx",
        outcomes={"passed": 3, "failed": 1},
        tests=4,
        attempts=4,
        records=(
            {
                "classname": "Pickles.TestHarness.MSTest.AdditionFeature",
                "name": "FailToAddTwoNumbers",
                "outcome": "failed",
                "duration_ms": 46,  # 00:00:00.0459057
                # -05:00 offset converted to UTC
                "started_at": datetime(2012, 2, 19, 14, 25, 25, 994969, tzinfo=UTC),
            },
            {"name": "AddingSeveralNumbers_40", "outcome": "passed", "duration_ms": 77},
        ),
    ),
    # BOM; fully qualified TestMethod names; synthetic cleanup-failure results with no class.
    "trx/xunit-v3-mtp.trx": Expect(
        format="trx",
        outcomes={"passed": 1, "failed": 3},
        tests=4,
        attempts=4,
        records=(
            {
                "classname": "DotnetTests.XUnitV3Tests.FixtureTests",
                "name": "Failing_Test",
                "outcome": "failed",
                "duration_ms": 17,
            },
            {
                "classname": "",
                "name": "[Test Class Cleanup Failure "
                "(DotnetTests.XUnitV3Tests.FixtureTests.Passing_Test)]",
                "outcome": "failed",
                "message": "",
                "duration_ms": 0,
            },
        ),
    ),
}
