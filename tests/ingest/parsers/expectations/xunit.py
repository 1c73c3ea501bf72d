"""xUnit.net v2 native sample (the JUnit-shaped xunit-net file belongs to the JUnit
expectations). Counts read from the <test> elements."""

from __future__ import annotations

from tests.ingest.parsers.expectations import Expect

COLLECTION = "Test collection for MyProject.Tests.SampleFact"

EXPECTED = {
    "xunit-net/xunit2-native-assemblies.xml": Expect(
        format="xunit",
        outcomes={"passed": 1, "failed": 1, "skipped": 1},
        tests=3,
        attempts=3,
        timelines=frozenset({COLLECTION}),
        records=(
            # identity from type + method, not the display name
            {
                "classname": "MyProject.Tests.SampleFact",
                "name": "FailedTest",
                "outcome": "failed",
                "message": "Assert.True() Failure",
                "duration_ms": 14,
            },
            # the skip reason from <reason> CDATA
            {"name": "SkippedTest", "outcome": "skipped", "message": "On Purpose"},
        ),
    ),
}
