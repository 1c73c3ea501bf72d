"""Infra outages and cascade failures on one timeline (DESIGN.md "cascade"; algorithms.md §3, §7).

Both look at one (run, timeline) sequence of first attempts ordered by `order` (ties broken by
test id so the result never depends on input order). Skipped tests are transparent: they neither
count as remaining tests nor break a run of failures.

Outage (a reading of "failures on > 50% of a run's remaining tests on every timeline"):
  A timeline is *in outage* when there is a failing first attempt from which on more than
  `outage_share` of the remaining decided tests failed, and at least
  min(cascade_min_length, decided tests on the timeline) of them failed. The point is a suffix,
  not the timeline's first failure, so an unrelated early flaky failure cannot hide a later
  outage. The minimum count stops a single failing last test (a suffix of one, 100% failed) from
  counting as an outage. A run is an outage when it has at least one timeline with decided tests
  and every such timeline is in outage. Outage runs are infra, not isolation: callers leave them
  out of flaky detection, order inference, cascades and the cascade baselines.
  A consequence of the definition worth knowing: on a run with a single timeline, a cascade that
  breaks more than half of the rest of the run (one that starts near the end, typically) is
  indistinguishable from an outage by shape and counts as one.

Cascade:
  A maximal run of ≥ cascade_min_length consecutive failing first attempts. Root = the first
  failure, followers = the rest. Each follower's baseline failure rate is Laplace-smoothed,
  (f + 1) / (n + 2), over its decided first attempts in the cascade_window_days before `as_of`,
  leaving out this run and outage runs. The run of failures is a cascade when the product of the
  followers' rates is < cascade_alpha: they failing together independently is that unlikely.
  Baselines do not leave out other cascades' followers (algorithms.md §3.2 suggests it); a test
  that keeps following the same root gets a higher rate and can stop qualifying, which errs on the
  side of calling fewer cascades.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .data import ERROR, FAILED, SKIPPED, RunMeta, TestRun
from .params import MetricParams
from .stats import laplace_rate

_FAIL_CODES = frozenset((FAILED, ERROR))


@dataclass(frozen=True, slots=True)
class Cascade:
    run: int
    timeline: str
    root: int
    followers: tuple[int, ...]  # in execution order
    probability: float  # product of the followers' baseline rates
    follower_rates: tuple[float, ...]
    followers_passed_on_retry: int  # supporting evidence: state, not the code, broke them

    def evidence(self) -> dict[str, object]:
        return {
            "run": self.run,
            "timeline": self.timeline,
            "followers": list(self.followers),
            "follower_rates": [round(r, 6) for r in self.follower_rates],
            "probability": self.probability,
            "followers_passed_on_retry": self.followers_passed_on_retry,
        }


def timeline_sequences(test_runs: Iterable[TestRun]) -> dict[tuple[int, str], list[TestRun]]:
    """First attempts grouped by (run, timeline), each sorted by (order, test)."""
    seqs: dict[tuple[int, str], list[TestRun]] = defaultdict(list)
    for tr in test_runs:
        seqs[(tr.run, tr.timeline)].append(tr)
    for seq in seqs.values():
        seq.sort(key=lambda tr: (tr.order, tr.test))
    return dict(sorted(seqs.items()))


def timeline_in_outage(failed: Sequence[bool], *, share: float, min_failures: int) -> bool:
    """`failed`: the timeline's decided first attempts in order, True for a failure."""
    n = len(failed)
    if n == 0:
        return False
    need = min(min_failures, n)
    fails = 0
    for i in range(n - 1, -1, -1):
        if failed[i]:
            fails += 1
            if fails >= need and fails > share * (n - i):
                return True
    return False


def _fail_counts(
    test_runs: Iterable[TestRun],
) -> tuple[dict[tuple[int, str], int], dict[tuple[int, str], int]]:
    """Per (run, timeline): failing first attempts and decided first attempts."""
    fails: dict[tuple[int, str], int] = defaultdict(int)
    decided: dict[tuple[int, str], int] = defaultdict(int)
    for tr in test_runs:
        if tr.first == SKIPPED:
            continue
        key = (tr.run, tr.timeline)
        decided[key] += 1
        if tr.first in _FAIL_CODES:
            fails[key] += 1
    return fails, decided


def outage_runs(test_runs: Sequence[TestRun], *, params: MetricParams) -> frozenset[int]:
    """Ids of runs where every timeline with decided tests is in outage."""
    fails, decided = _fail_counts(test_runs)
    # cheap screen first: every timeline needs its minimum number of failures
    possible: dict[int, bool] = {}
    for key, n in decided.items():
        enough = fails.get(key, 0) >= min(params.cascade_min_length, n)
        possible[key[0]] = possible.get(key[0], True) and enough
    candidates = {run for run, ok in possible.items() if ok}
    if not candidates:
        return frozenset()
    verdicts: dict[int, bool] = {}
    for (run, _timeline), seq in timeline_sequences(
        tr for tr in test_runs if tr.run in candidates
    ).items():
        failed = [tr.first in _FAIL_CODES for tr in seq if tr.first != SKIPPED]
        if not failed:
            continue  # a timeline of skips says nothing either way
        down = timeline_in_outage(
            failed, share=params.outage_share, min_failures=params.cascade_min_length
        )
        verdicts[run] = verdicts.get(run, True) and down
    return frozenset(run for run, down in verdicts.items() if down)


def _failure_blocks(seq: Sequence[TestRun], min_length: int) -> list[list[TestRun]]:
    """Maximal runs of consecutive failing first attempts, skips transparent."""
    blocks: list[list[TestRun]] = []
    current: list[TestRun] = []
    for tr in seq:
        if tr.first == SKIPPED:
            continue
        if tr.first in _FAIL_CODES:
            current.append(tr)
        else:
            if len(current) >= min_length:
                blocks.append(current)
            current = []
    if len(current) >= min_length:
        blocks.append(current)
    return blocks


def detect_cascades(
    runs: Mapping[int, RunMeta],
    test_runs: Sequence[TestRun],
    *,
    as_of: dt.datetime,
    params: MetricParams,
    exclude_runs: Collection[int] = frozenset(),
    only_runs: Collection[int] | None = None,
) -> list[Cascade]:
    """Cascades in every run of `runs` that started before `as_of` and is not excluded.

    Pass the outage runs as `exclude_runs`. With `only_runs`, cascades are looked for in those
    runs alone, against the same baselines. Sorted by (run start, run id, timeline, root order).
    """
    known = {
        rid: meta
        for rid, meta in runs.items()
        if meta.started_at < as_of and rid not in exclude_runs
    }
    window_start = as_of - dt.timedelta(days=params.cascade_window_days)
    in_window = {rid for rid, meta in known.items() if meta.started_at >= window_start}
    searched = known if only_runs is None else known.keys() & set(only_runs)

    # Only timelines with enough failures can hold a cascade.
    timeline_fails: dict[tuple[int, str], int] = defaultdict(int)
    for tr in test_runs:
        if tr.first in _FAIL_CODES and tr.run in searched:
            timeline_fails[(tr.run, tr.timeline)] += 1
    busy = {key for key, n in timeline_fails.items() if n >= params.cascade_min_length}
    if not busy:
        return []
    blocks = [
        (run, timeline, block)
        for (run, timeline), seq in timeline_sequences(
            tr for tr in test_runs if (tr.run, tr.timeline) in busy
        ).items()
        for block in _failure_blocks(seq, params.cascade_min_length)
    ]  # fmt: skip
    if not blocks:
        return []
    # Baseline counts over the window, for the tests that follow in some block; a run's own
    # contribution is subtracted per cascade.
    following = {tr.test for _, _, block in blocks for tr in block[1:]}
    fails: dict[int, int] = defaultdict(int)
    decided: dict[int, int] = defaultdict(int)
    for tr in test_runs:
        if tr.test in following and tr.first != SKIPPED and tr.run in in_window:
            decided[tr.test] += 1
            if tr.first in _FAIL_CODES:
                fails[tr.test] += 1

    found: list[Cascade] = []
    for run, timeline, block in blocks:
        own = 1 if run in in_window else 0
        followers = block[1:]
        rates = tuple(
            laplace_rate(fails[tr.test] - own, decided[tr.test] - own) for tr in followers
        )
        probability = 1.0
        for r in rates:
            probability *= r
        if probability < params.cascade_alpha:
            found.append(
                Cascade(
                    run=run,
                    timeline=timeline,
                    root=block[0].test,
                    followers=tuple(tr.test for tr in followers),
                    probability=probability,
                    follower_rates=rates,
                    followers_passed_on_retry=sum(tr.passed_on_retry for tr in followers),
                )
            )
    found.sort(key=lambda c: (known[c.run].started_at, c.run, c.timeline))
    return found


def cascade_followers(cascades: Iterable[Cascade]) -> frozenset[tuple[int, int]]:
    """(run, test) pairs that failed as a cascade follower: not flaky, not a regression."""
    return frozenset((c.run, t) for c in cascades for t in c.followers)
