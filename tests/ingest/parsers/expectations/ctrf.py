"""Expectations for the CTRF samples, counted from the JSON by hand.

CTRF has no classname, so identity is (filePath, else suite path; name).
"""

from __future__ import annotations

import datetime as dt

from tests.ingest.parsers.expectations import Expect

UTC = dt.UTC


def _ms(epoch_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


EXPECTED = {
    # Every optional field. "user can checkout" has retries=1 and two retryAttempts, the second
    # being the final (passed) execution: one earlier failed attempt, then the final record.
    "ctrf/ctrf-comprehensive.json": Expect(
        format="ctrf",
        outcomes={"passed": 2, "failed": 2},
        tests=3,
        attempts=4,
        retried=1,
        timelines=frozenset({"worker-1", "worker-2"}),
        records=(
            {
                "name": "user can login",
                "suite": "Authentication / Login",
                "classname": "",
                "file": "tests/auth/login.test.js",
                "duration_ms": 3500,
                "timeline": "worker-1",
                "started_at": _ms(1609459200000),
            },
            {
                "name": "user can checkout",
                "attempt": 1,
                "outcome": "failed",
                "duration_ms": 5100,
                "started_at": _ms(1609459203500),
                "message": "Payment gateway timeout",
                "output": "Error: Payment gateway timeout\n    at processPayment (payment.js:23:10)",
            },
            {
                "name": "user can checkout",
                "attempt": 2,
                "outcome": "passed",
                "duration_ms": 5200,
                "started_at": _ms(1609459208700),
                "timeline": "worker-2",
            },
            {
                "name": "admin dashboard loads",
                "outcome": "failed",
                "line": 42,
                "suite": "Admin / Dashboard",
                "message": "Element not found: .dashboard-metrics",
                "output": "Error: Element not found: .dashboard-metrics\n"
                "    at waitForElement (test.js:45:10)\n"
                "    at Object.<anonymous> (dashboard.test.js:42:5)\n"
                "Loading admin dashboard\nChecking authentication\n"
                "Warning: Slow network detected\nError: Timeout waiting for .dashboard-metrics",
            },
        ),
    ),
    # Legacy document without reportFormat; retries=0 and flaky=false add nothing.
    "ctrf/ctrf-cypress-reporter.json": Expect(
        format="ctrf",
        outcomes={"passed": 2},
        tests=2,
        attempts=2,
        records=(
            {
                "name": "test /develop-an-initial-plan should use screen reader callouts",
                "file": "server/routes/journeys/develop-an-initial-plan/tests.cy.ts",
                "duration_ms": 3847,
                "suite": "",
                "properties": {
                    "type": "e2e",
                    "browser": "electron 118.0.5993.159",
                    "rawStatus": "passed",
                },
            },
        ),
    ),
    # Legacy: " > " suite strings, pending and other statuses, flaky tests with retries=2, 1
    # and 3 but no retryAttempts: 2 + 1 + 3 inferred failed attempts before the final passes.
    # Final statuses: 5 passed, 2 failed, 1 skipped, 1 pending, 1 other.
    "ctrf/ctrf-legacy-no-specversion.json": Expect(
        format="ctrf",
        outcomes={"passed": 5, "failed": 8, "skipped": 3},
        tests=10,
        attempts=16,
        retried=3,
        records=(
            {
                "name": "should be able to update profile",
                "attempt": 1,
                "outcome": "failed",
                "suite": "login.test.ts / profile",
                "duration_ms": None,
                "properties": {"ctrf.inferred_attempt": "true"},
            },
            {
                "name": "should be able to update profile",
                "attempt": 3,
                "outcome": "passed",
                "duration_ms": 1200,
                "properties": {},
            },
            {"name": "should allow user to change password", "attempt": 4, "outcome": "passed"},
            {
                "name": "should load user data",
                "outcome": "skipped",
                "suite": "",
                "file": "",
                "properties": {"ctrf.status": "pending"},
            },
            {
                "name": "should clean up user session on logout",
                "outcome": "skipped",
                "duration_ms": 1050,
                "properties": {"ctrf.status": "other"},
            },
            {
                "name": "should fail to update profile on network failure",
                "outcome": "failed",
                "message": "Network Timeout",
                "output": "ProfileUpdateTest.js:60",
                "suite": "network.test.ts / network",
            },
        ),
    ),
    # retries=2 with three retryAttempts: the third is the final execution, not a fourth.
    "ctrf/ctrf-with-retries.json": Expect(
        format="ctrf",
        outcomes={"passed": 2, "failed": 2},
        tests=2,
        attempts=4,
        retried=1,
        records=(
            {
                "name": "flaky test",
                "attempt": 1,
                "outcome": "failed",
                "duration_ms": 120,
                "message": "Connection timeout",
            },
            {"name": "flaky test", "attempt": 2, "outcome": "failed", "duration_ms": 130},
            {
                "name": "flaky test",
                "attempt": 3,
                "outcome": "passed",
                "duration_ms": 140,
                "message": "",
            },
            {"name": "stable test", "attempt": 1, "outcome": "passed", "duration_ms": 150},
        ),
    ),
}
