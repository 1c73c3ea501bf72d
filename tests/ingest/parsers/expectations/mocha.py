"""mocha JSON reporter sample (the mocha-junit XML file is a JUnit expectation). Counts from
the `tests` array: 4 with a non-empty err, 1 pending (empty err, no duration), 1 passed."""

from __future__ import annotations

from tests.ingest.parsers.expectations import Expect

EXPECTED = {
    "mocha/mocha-json-reporter.json": Expect(
        format="mocha",
        outcomes={"passed": 1, "failed": 4, "skipped": 1},
        tests=6,
        attempts=6,
        records=(
            # classname is the describe chain: fullTitle minus title
            {
                "classname": "Test 1 Test 1.1",
                "name": "Failing test",
                "outcome": "failed",
                "duration_ms": 1,
                "message": "Expected values to be strictly equal:\n\nfalse !== true",
            },
            # pending: empty err and no duration
            {"classname": "", "name": "Skipped test", "outcome": "skipped", "duration_ms": None},
            {"classname": "Test 1", "name": "Passing test", "outcome": "passed", "duration_ms": 0},
        ),
    ),
}
