"""Plain input records for the metric functions.

Outcomes use ingest's Outcome codes: 0 passed, 1 failed, 2 error (counts as failed), 3 skipped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

PASSED, FAILED, ERROR, SKIPPED = 0, 1, 2, 3


def is_fail(outcome: int) -> bool:
    return outcome == FAILED or outcome == ERROR


@dataclass(frozen=True, slots=True)
class RunMeta:
    """One CI run (upload)."""

    id: int
    commit: str
    branch: str
    started_at: dt.datetime  # timezone-aware, UTC


@dataclass(frozen=True, slots=True)
class Execution:
    """One attempt of one test in one run.

    `order` is the execution order within (run, timeline), already resolved by the loader of this
    data: per-test start time when the file gave one, else document order. Only first attempts
    (attempt == 1) carry order information that matters for order dependence and cascades.
    """

    run: int
    test: int
    attempt: int  # 1 = first try; 2..n = retries within the same run
    outcome: int
    duration_ms: int | None
    timeline: str
    order: int


@dataclass(frozen=True, slots=True)
class TestRun:
    """All attempts of one test in one run, summarised (built by group_test_runs)."""

    __test__ = False

    run: int
    test: int
    first: int  # outcome of attempt 1
    final: int  # outcome of the last attempt
    attempts: int
    passed_on_retry: bool  # some attempt failed and a later attempt passed
    first_duration_ms: int | None
    timeline: str  # timeline of attempt 1
    order: int  # order of attempt 1


def group_test_runs(executions: list[Execution]) -> list[TestRun]:
    """Collapse attempts into one TestRun per (run, test)."""
    by_key: dict[tuple[int, int], list[Execution]] = {}
    for e in executions:
        key = (e.run, e.test)
        group = by_key.get(key)
        if group is None:
            by_key[key] = [e]
        else:
            group.append(e)
    out = []
    for (run, test), attempts in by_key.items():
        if len(attempts) == 1:  # the common case, kept cheap: no retries
            e = attempts[0]
            out.append(
                TestRun(
                    run, test, e.outcome, e.outcome, 1, False, e.duration_ms, e.timeline, e.order
                )
            )
            continue
        attempts.sort(key=lambda e: e.attempt)
        first, last = attempts[0], attempts[-1]
        seen_fail = False
        passed_on_retry = False
        for e in attempts:
            if is_fail(e.outcome):
                seen_fail = True
            elif e.outcome == PASSED and seen_fail:
                passed_on_retry = True
        out.append(
            TestRun(
                run=run,
                test=test,
                first=first.outcome,
                final=last.outcome,
                attempts=len(attempts),
                passed_on_retry=passed_on_retry,
                first_duration_ms=first.duration_ms,
                timeline=first.timeline,
                order=first.order,
            )
        )
    return out
