"""RSpec JSON formatter sample. Counts from examples[].status."""

from __future__ import annotations

from tests.ingest.parsers.expectations import Expect

GROUP = "CheckEnvVars#call when all env vars are defined behaves like success load"

EXPECTED = {
    "rspec/rspec-json-formatter.json": Expect(
        format="rspec",
        outcomes={"passed": 1, "failed": 1, "skipped": 1},
        tests=3,
        attempts=3,
        records=(
            {
                "classname": GROUP,
                "name": "fails in assertion",
                "outcome": "failed",
                "file": "./spec/config/check_env_vars_spec.rb",
                "line": 17,
                "duration_ms": 4,  # run_time 0.004411051 s
            },
            {
                "name": "skips the test",
                "outcome": "skipped",
                "message": "Temporarily skipped with xit",
            },
            {"name": "logs success message", "outcome": "passed", "duration_ms": 79},
        ),
    ),
}
