"""Order-dependent victims and their polluters from passive order data (algorithms.md §2.3, §7).

Window: runs started in the od_window_days before `as_of`, outage runs left out. Observations are
decided first attempts; "C ran earlier" means C's decided first attempt has a smaller `order` on
the same (run, timeline). Skipped tests and retries are not predecessors: a skipped test did not
run its body, and retries run outside the timeline's order.

Victim: a test with ≥ od_min_failures failing and ≥ od_min_passes passing first attempts in the
window. For every candidate C that shared a (run, timeline) with the victim, over the victim's
executions in runs where C ran at all:

                        victim failed   victim passed
    C ran earlier             a               b
    C ran, not earlier        c               d

One-sided Fisher exact test (greater), Benjamini–Hochberg over the candidate groups of the victim,
accepted when q < od_q, a ≥ od_min_cooccurrence and risk difference a/(a+b) − c/(c+d) ≥
od_min_risk_difference. Explain-away: the accepted candidate with the smallest p becomes a
polluter, every execution where it ran earlier is dropped (failures and passes alike, §2.3 step 6:
the residual is "the polluter did not run earlier"), the failures among them are the ones it
explains, and the remaining candidates are tested again on the residual; at most od_max_polluters.

Readings and guards chosen beyond the one-line definition, each checked by simulation in
tests/reports/metrics/test_order.py:
- Rows where C did not run at all are left out of C's table, not counted as "not earlier". The
  question is whether C's *position* matters; counting absence would make a test that was added,
  renamed or only runs on some branches look like a polluter whenever the victim's failure rate
  differs between the runs that have it and the runs that don't.
- The risk difference must reach od_min_risk_difference with confidence: its one-sided lower
  bound at level od_q (Newcombe's score interval) is compared, not the point estimate. A plainly
  flaky test failing 40% of the time otherwise gets a false polluter in about 4% of windows
  (one of ~120 bystanders happens to sit before it in 19 of 26 failures); with the bound, about
  0.2%, at no measurable cost to real polluters. The point estimate is still what evidence shows.
- Position guard: an accepted candidate must also be significant (p < od_q) in an exact one-sided
  test stratified by the victim's number of predecessors on its timeline (exact counts, or bins
  of about MIN_PER_STRATUM executions when counts are mostly distinct). A victim that fails
  because it runs late (state accumulating over many tests) makes every test that tends to run
  before it look like a polluter in the pooled table; within strata of equal position that
  association disappears, while a real polluter keeps it.
- Candidates with identical incidence (same "earlier" and same "ran" vectors over the rows being
  tested) cannot be told apart and are one group. The group is reported with a representative:
  the member most often the immediate predecessor of the victim's failures, then the lowest id.
- BH counts every candidate group that shared a timeline with the victim, including groups that
  never ran earlier (p = 1), as algorithms.md §2.3 step 5 says.
- Evidence also has the immediate-predecessor share (failures with the polluter immediately
  before the victim ÷ failures with the polluter earlier) and cleaners: among executions with the
  polluter earlier, tests whose running between polluter and victim goes with a pass (one-sided
  Fisher, BH, q < od_q, pass-rate difference bound ≥ od_min_risk_difference, and ≥ od_min_passes
  passes with it in between — the evidence floor a victim needs; with fewer, a bystander that
  happened to sit between them in two or three passes looks just as good).
- Evidence keeps the runs each cell of the selected table counts (cell_runs), so a page that
  lists a cell's runs shows the executions counted here and does not count them again.

Everything runs on numpy boolean matrices per victim (executions × tests), so the cost is a few
matrix-vector products per victim and explain-away step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from .columns import FIRST, ORDER, RUN, TEST, Columns, columns_of
from .data import ERROR, FAILED, SKIPPED, RunMeta, TestRun
from .params import MetricParams
from .stats import (
    benjamini_hochberg,
    fisher_greater_many,
    haldane_odds_ratio,
    risk_difference_lower,
    stratified_exact_greater,
)

MIN_PER_STRATUM = 4
MAX_CLEANERS = 5


@dataclass(frozen=True, slots=True)
class PolluterEvidence:
    polluter: int  # representative of the group
    group: tuple[int, ...]  # every test with the same incidence, sorted, polluter included
    step: int  # 1-based explain-away step that selected it
    a: int
    b: int
    c: int
    d: int
    p: float
    q: float
    risk_difference_lower: float
    stratified_p: float
    immediate_predecessor_share: float
    # The runs each cell of the table counts, in the order a, b, c, d (run ids ascending).
    cell_runs: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    cleaners: tuple[int, ...]

    @property
    def explained_runs(self) -> tuple[int, ...]:
        """Runs where the victim failed with this polluter earlier: cell a."""
        return self.cell_runs[0]

    @property
    def risk_with(self) -> float:
        return self.a / (self.a + self.b)

    @property
    def risk_without(self) -> float:
        return self.c / (self.c + self.d)

    @property
    def risk_difference(self) -> float:
        return self.risk_with - self.risk_without

    def evidence(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "d": self.d,
            "risk_with": round(self.risk_with, 6),
            "risk_without": round(self.risk_without, 6),
            "risk_difference": round(self.risk_difference, 6),
            "risk_difference_lower": round(self.risk_difference_lower, 6),
            "odds_ratio": round(haldane_odds_ratio(self.a, self.b, self.c, self.d), 6),
            "p": self.p,
            "q": self.q,
            "stratified_p": self.stratified_p,
            "step": self.step,
            "group": list(self.group),
            "immediate_predecessor_share": round(self.immediate_predecessor_share, 6),
            "immediate_predecessor": self.immediate_predecessor_share >= 0.5,
            "explained_failures": len(self.explained_runs),
            "cleaners": list(self.cleaners),
        }


@dataclass(frozen=True, slots=True)
class VictimResult:
    victim: int
    failures: int  # failing first attempts in the window
    passes: int
    polluters: tuple[PolluterEvidence, ...]  # in selection order

    @property
    def explained_runs(self) -> tuple[int, ...]:
        return tuple(sorted({r for p in self.polluters for r in p.explained_runs}))


@dataclass
class _Observations:
    """Decided first attempts of the window, sorted by (sequence, order, test)."""

    run_ids: np.ndarray  # local run index -> run id
    test_ids: np.ndarray  # local test index -> test id (ascending)
    seq: np.ndarray
    run: np.ndarray
    test: np.ndarray
    failed: np.ndarray
    rank: np.ndarray  # number of entries of the same sequence with a strictly smaller order
    prev: np.ndarray  # local test index of the immediate predecessor, -1 when none
    seq_start: np.ndarray
    seq_len: np.ndarray
    present: np.ndarray  # (runs × tests) bool: the test has a decided first attempt in the run


def _observations(rows: Columns) -> _Observations:
    n = len(rows.ints)
    run_ids, run = np.unique(rows.ints[:, RUN], return_inverse=True)
    test_ids, test = np.unique(rows.ints[:, TEST], return_inverse=True)
    order = rows.ints[:, ORDER]
    failed = (rows.ints[:, FIRST] == FAILED) | (rows.ints[:, FIRST] == ERROR)
    # sequences numbered in (run id, timeline name) order
    seq_codes, seq = np.unique(
        run * max(len(rows.timelines), 1) + rows.timeline, return_inverse=True
    )
    run, test, seq = run.ravel(), test.ravel(), seq.ravel()
    n_seq = len(seq_codes)

    perm = np.lexsort((test, order, seq))
    seq, run, test, order, failed = seq[perm], run[perm], test[perm], order[perm], failed[perm]

    idx = np.arange(n)
    new_seq = np.ones(n, dtype=bool)
    new_seq[1:] = seq[1:] != seq[:-1]
    new_order = new_seq.copy()
    new_order[1:] |= order[1:] != order[:-1]
    seq_first = np.maximum.accumulate(np.where(new_seq, idx, 0))
    tie_first = np.maximum.accumulate(np.where(new_order, idx, 0))
    rank = tie_first - seq_first
    prev = np.where(rank > 0, test[np.maximum(tie_first - 1, 0)], -1)

    seq_start = np.searchsorted(seq, np.arange(n_seq), side="left")
    seq_len = np.searchsorted(seq, np.arange(n_seq), side="right") - seq_start

    present = np.zeros((len(run_ids), len(test_ids)), dtype=bool)
    present[run, test] = True
    return _Observations(
        run_ids, test_ids, seq, run, test, failed, rank, prev, seq_start, seq_len, present
    )


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row number and flat index of every position in the ranges [start, start + length)."""
    total = int(lengths.sum())
    row = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.cumsum(lengths) - lengths
    flat = np.arange(total) - np.repeat(offsets, lengths) + np.repeat(starts, lengths)
    return row, flat


def _groups(before: np.ndarray, ran: np.ndarray) -> np.ndarray:
    """Group label per column: equal labels mean identical incidence over these rows."""
    if before.shape[1] == 0:
        return np.zeros(0, dtype=np.int64)
    packed = np.packbits(np.concatenate([before, ran], axis=0), axis=0)
    keys = np.ascontiguousarray(packed.T)
    void = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, labels = np.unique(void, return_inverse=True)
    return labels.ravel()


def _strata(position: np.ndarray) -> np.ndarray:
    """Stratum per row: its exact number of predecessors when that leaves MIN_PER_STRATUM rows
    per stratum on average, else bins of about MIN_PER_STRATUM rows cut at whole positions.

    Narrow strata matter: a victim that fails past some position leaves an association inside
    any stratum that straddles that position.
    """
    values, exact = np.unique(position, return_inverse=True)
    if len(values) * MIN_PER_STRATUM <= len(position):
        return exact.ravel()
    n_bins = max(1, len(position) // MIN_PER_STRATUM)
    cuts = np.quantile(position, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = np.unique(np.ceil(cuts))
    return np.searchsorted(edges, position, side="right")


def _position_pvalues(
    position: np.ndarray, y: np.ndarray, before: np.ndarray, ran: np.ndarray
) -> np.ndarray:
    """Per column, the exact one-sided p-value of "earlier → failed" within position strata."""
    strata = _strata(position)
    onehot = np.zeros((int(strata.max()) + 1, len(position)), dtype=np.int64)
    onehot[strata, np.arange(len(position))] = 1
    sa = onehot @ (before * y[:, None])
    s_row = onehot @ before
    s_col = onehot @ (ran * y[:, None])
    s_tot = onehot @ ran
    return np.array(
        [
            stratified_exact_greater(sa[:, i], s_row[:, i], s_col[:, i], s_tot[:, i])
            for i in range(before.shape[1])
        ]
    )


def _cleaners(
    ranks: np.ndarray,
    before: np.ndarray,
    failed: np.ndarray,
    polluter_rows: np.ndarray,
    polluter: int,
    victim: int,
    test_ids: np.ndarray,
    params: MetricParams,
    z: float,
) -> tuple[int, ...]:
    """Tests whose running after the polluter and before the victim goes with a pass."""
    r = ranks[polluter_rows]
    between = before[polluter_rows] & (r > r[:, [polluter]])
    between[:, [polluter, victim]] = False
    cand = np.flatnonzero(between.any(axis=0))
    if len(cand) == 0:
        return ()
    passed = (~failed[polluter_rows]).astype(np.int64)
    n_pass = int(passed.sum())
    n_fail = len(passed) - n_pass
    bt = between[:, cand].astype(np.int64)
    a = passed @ bt
    b = bt.sum(axis=0) - a
    c = n_pass - a
    d = n_fail - b
    p = fisher_greater_many(a, b, c, d)
    q = benjamini_hochberg(p)
    rd_low = np.where(c + d > 0, risk_difference_lower(a, b, c, d, z), -1.0)
    ok = np.flatnonzero(
        (q < params.od_q) & (a >= params.od_min_passes) & (rd_low >= params.od_min_risk_difference)
    )
    ok = ok[np.lexsort((test_ids[cand[ok]], p[ok]))][:MAX_CLEANERS]
    return tuple(int(test_ids[cand[i]]) for i in ok)


def _analyse_victim(
    obs: _Observations, v: int, rows: np.ndarray, params: MetricParams
) -> VictimResult | None:
    n_tests = len(obs.test_ids)
    n = len(rows)
    y = obs.failed[rows]
    seq = obs.seq[rows]
    k = obs.rank[rows]
    start = obs.seq_start[seq]

    # ranks[e, C] = C's position in e's sequence when C ran earlier than the victim, else -1.
    ranks = np.full((n, n_tests), -1, dtype=np.int32)
    row, flat = _ranges(start, k)
    ranks[row, obs.test[flat]] = (flat - start[row]).astype(np.int32)
    before = ranks >= 0
    # shared[e, C]: C ran anywhere in e's (run, timeline), the candidates BH counts.
    shared = np.zeros((n, n_tests), dtype=bool)
    row, flat = _ranges(start, obs.seq_len[seq])
    shared[row, obs.test[flat]] = True
    shared[:, v] = False
    ran = obs.present[obs.run[rows]]
    ran[:, v] = False
    prev = obs.prev[rows]

    z = float(norm.isf(params.od_q))  # one-sided bound at the same level as the tests
    active = np.ones(n, dtype=bool)
    found: list[PolluterEvidence] = []
    for step in range(1, params.od_max_polluters + 1):
        act = np.flatnonzero(active)
        ya = y[act]
        n_fail = int(ya.sum())
        if n_fail < params.od_min_cooccurrence or n_fail == len(act):
            break
        cand = np.flatnonzero(shared[act].any(axis=0))
        if len(cand) == 0:
            break
        b_act, r_act = before[act][:, cand], ran[act][:, cand]
        labels = _groups(b_act, r_act)
        n_groups = int(labels.max()) + 1
        # one column per group: members are identical over these rows
        first_member = np.full(n_groups, len(cand), dtype=np.int64)
        np.minimum.at(first_member, labels, np.arange(len(cand)))

        yi = ya.astype(np.int64)
        bg = b_act[:, first_member].astype(np.int64)
        rg = r_act[:, first_member].astype(np.int64)
        a = yi @ bg
        n_before = bg.sum(axis=0)
        b = n_before - a
        c = yi @ rg - a
        d = rg.sum(axis=0) - n_before - c
        p = fisher_greater_many(a, b, c, d)
        q = benjamini_hochberg(p)
        informative = (a + b > 0) & (c + d > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rd = np.where(informative, a / np.maximum(a + b, 1) - c / np.maximum(c + d, 1), -1.0)
        rd_low = np.where(informative, risk_difference_lower(a, b, c, d, z), -1.0)
        ok = np.flatnonzero(
            (q < params.od_q)
            & (a >= params.od_min_cooccurrence)
            & (rd_low >= params.od_min_risk_difference)
        )
        if len(ok) == 0:
            break

        sp = _position_pvalues(k[act], yi, bg[:, ok], rg[:, ok])
        keep = sp < params.od_q
        ok, sp = ok[keep], sp[keep]
        if len(ok) == 0:
            break

        # representative per accepted group, then the best group
        fail_prev = np.bincount(prev[act][ya & (prev[act] >= 0)], minlength=n_tests)
        reps: list[tuple[int, tuple[int, ...]]] = []
        for g in ok:
            members = cand[labels == g]
            rep = members[np.lexsort((members, -fail_prev[members]))[0]]
            reps.append((int(rep), tuple(int(obs.test_ids[m]) for m in members)))
        best = min(
            range(len(ok)),
            key=lambda i: (p[ok[i]], -a[ok[i]], -rd[ok[i]], reps[i][0]),
        )
        g = ok[best]
        rep, members = reps[best]

        drop = act[before[act, rep]]
        failed_drop = drop[y[drop]]
        ip_share = float(np.mean(prev[failed_drop] == rep)) if len(failed_drop) else 0.0
        # The table's executions (the polluter ran in the run), by cell.
        counted = act[ran[act, rep]]
        earlier, fails = before[counted, rep], y[counted]
        run_of = obs.run_ids[obs.run[rows[counted]]]
        a_runs, b_runs, c_runs, d_runs = (
            tuple(sorted(int(r) for r in run_of[cell]))
            for cell in (earlier & fails, earlier & ~fails, ~earlier & fails, ~earlier & ~fails)
        )
        found.append(
            PolluterEvidence(
                polluter=int(obs.test_ids[rep]),
                group=tuple(sorted(members)),
                step=step,
                a=int(a[g]),
                b=int(b[g]),
                c=int(c[g]),
                d=int(d[g]),
                p=float(p[g]),
                q=float(q[g]),
                risk_difference_lower=float(rd_low[g]),
                stratified_p=float(sp[best]),
                immediate_predecessor_share=ip_share,
                cell_runs=(a_runs, b_runs, c_runs, d_runs),
                cleaners=_cleaners(ranks, before, y, drop, rep, v, obs.test_ids, params, z),
            )
        )
        active[drop] = False

    if not found:
        return None
    return VictimResult(
        victim=int(obs.test_ids[v]),
        failures=int(y.sum()),
        passes=int(n - y.sum()),
        polluters=tuple(found),
    )


def infer_order_dependence(
    runs: Mapping[int, RunMeta],
    test_runs: Sequence[TestRun],
    *,
    as_of: dt.datetime,
    params: MetricParams,
    exclude_runs: Collection[int] = frozenset(),
) -> list[VictimResult]:
    """Victims with at least one polluter in the window ending at `as_of`, sorted by victim id.

    Pass the outage runs as `exclude_runs`.
    """
    window_start = as_of - dt.timedelta(days=params.od_window_days)
    in_window = {
        rid
        for rid, meta in runs.items()
        if window_start <= meta.started_at < as_of and rid not in exclude_runs
    }
    columns = columns_of(test_runs)
    keep = np.isin(columns.ints[:, RUN], np.fromiter(in_window, dtype=np.int64))
    keep &= columns.ints[:, FIRST] != SKIPPED
    if not keep.any():
        return []
    obs = _observations(columns.take(keep))
    n_tests = len(obs.test_ids)
    fails = np.bincount(obs.test, weights=obs.failed, minlength=n_tests).astype(np.int64)
    total = np.bincount(obs.test, minlength=n_tests)
    victims = np.flatnonzero(
        (fails >= params.od_min_failures) & (total - fails >= params.od_min_passes)
    )
    if len(victims) == 0:
        return []
    by_test = np.argsort(obs.test, kind="stable")
    bounds = np.searchsorted(obs.test[by_test], victims, side="left")
    ends = np.searchsorted(obs.test[by_test], victims, side="right")
    out: list[VictimResult] = []
    for v, lo, hi in zip(victims, bounds, ends, strict=True):
        result = _analyse_victim(obs, int(v), by_test[lo:hi], params)
        if result is not None:
            out.append(result)
    return out
