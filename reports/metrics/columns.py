"""Test-runs as numpy columns, for the analyses that read a whole window at once.

Turning a window's ~12,000 TestRun objects into arrays is a pass of Python attribute reads; a
run's test-runs never change, so their columns can be made once per run and a window's put
together by concatenation (reports.history keeps them with each run's decoded facts). The
analyses take any sequence of test-runs and use the columns a `TestRuns` list carries, or make
them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from operator import attrgetter

import numpy as np

from .data import TestRun

RUN, TEST, ORDER, FIRST = range(4)  # the int columns, in this order
_INTS = attrgetter("run", "test", "order", "first")
_TIMELINE = attrgetter("timeline")


@dataclass(frozen=True, slots=True)
class Columns:
    """Row i is test-run i: `ints` (n x 4, int64) holds run, test, order and first outcome;
    `timeline` (n, int64) the index of its timeline in `timelines` (sorted names)."""

    ints: np.ndarray
    timeline: np.ndarray
    timelines: tuple[str, ...]

    @classmethod
    def of(cls, test_runs: Sequence[TestRun]) -> Columns:
        n = len(test_runs)
        ints = np.fromiter(
            chain.from_iterable(map(_INTS, test_runs)), dtype=np.int64, count=4 * n
        ).reshape(n, 4)
        names = tuple(sorted({tr.timeline for tr in test_runs}))
        if len(names) <= 1:  # one timeline (no workers): its number is 0 everywhere
            timeline = np.zeros(n, dtype=np.int64)
        else:
            index = {name: i for i, name in enumerate(names)}
            timeline = np.fromiter(
                map(index.__getitem__, map(_TIMELINE, test_runs)), dtype=np.int64, count=n
            )
        return cls(ints, timeline, names)

    @classmethod
    def concat(cls, parts: Sequence[Columns]) -> Columns:
        """The columns of the parts' test-runs one after the other."""
        if not parts:
            return cls(np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int64), ())
        names = tuple(sorted(set().union(*(p.timelines for p in parts))))
        index = {name: i for i, name in enumerate(names)}
        timelines = []
        for p in parts:
            if p.timelines == names or len(p.ints) == 0:
                timelines.append(p.timeline)
            else:
                codes = np.array([index[t] for t in p.timelines], dtype=np.int64)
                timelines.append(codes[p.timeline])
        return cls(np.concatenate([p.ints for p in parts]), np.concatenate(timelines), names)

    def take(self, rows: np.ndarray) -> Columns:
        """These rows (a boolean mask or indices), timeline names unchanged."""
        return Columns(self.ints[rows], self.timeline[rows], self.timelines)


class TestRuns(list[TestRun]):
    """A list of test-runs that carries their Columns, made beforehand (see the module doc)."""

    __test__ = False
    __slots__ = ("columns",)

    def __init__(self, test_runs: Sequence[TestRun], columns: Columns) -> None:
        super().__init__(test_runs)
        self.columns = columns


def columns_of(test_runs: Sequence[TestRun]) -> Columns:
    if isinstance(test_runs, TestRuns):
        return test_runs.columns
    return Columns.of(test_runs)


def of_runs(test_runs: Sequence[TestRun], run_ids: Collection[int]) -> Sequence[TestRun]:
    """The test-runs of these runs, in their order; a TestRuns keeps its columns."""
    if not isinstance(test_runs, TestRuns):
        return [tr for tr in test_runs if tr.run in run_ids]
    ids = np.fromiter(run_ids, dtype=np.int64, count=len(run_ids))
    keep = np.isin(test_runs.columns.ints[:, RUN], ids)
    if keep.all():
        return test_runs
    return TestRuns(list(compress(test_runs, keep.tolist())), test_runs.columns.take(keep))
