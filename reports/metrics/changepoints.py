"""Duration change points per test on the reference branch (DESIGN.md "duration regression").

Series: one point per commit on the reference branch, ordered by the commit's first run start; the
point is the median duration of the test's passed first attempts at that commit. Detection runs on
log(1 + median_ms): the log makes a slowdown a shift in level whatever the test's scale, and the
1 ms offset keeps 0 ms medians (sub-millisecond tests) defined without moving anything that could
pass the 25 ms gate.

Detection (find_change_points) is Apache Otava's (formerly Hunter; Fleming et al., ICPE 2023)
method, written against numpy/scipy rather than depending on `apache-otava`, which pins old NumPy
and pulls cloud clients:

1. Split: E-Divisive means (Matteson & James 2014, alpha = 1) on sliding windows of `window`
   points, step window/2. Inside a window the best split (tau, kappa) maximises Q-hat and is kept
   when Student's t-test between the two sides of its interval gives p <= a relaxed first-pass
   level (10 x max_pvalue, as Otava does); the window is then bisected recursively. The union of
   the windows' splits are the "weak" change points.
2. Merge: while some change point has p >= max_pvalue against its neighbouring segments, drop the
   weakest (largest p) and re-test the rest.

Readings that differ from Otava, each for a failure seen on test series:
- splits leave at least `min_points` a side (Otava allows one, letting an outlier be a segment);
- a change a few points before a window's end can only be split min_points before that end, so
  it comes out early, and the next window, starting at that split, cannot see the real place.
  Merged points are therefore re-placed at the Q-hat maximum of the span between their
  neighbours, and a point whose best split with only two points a side required would leave
  fewer than min_points on a side is dropped: that change is too close to a segment's end (often
  the end of the data) to judge yet;
- the t-test uses sample variances (ddof=1) where Otava passes population ones.

Acceptance (duration_changes) of each change point against its neighbouring segments:
- at least cp_min_points commits each side (and not pinned, as above);
- the t-test p-value corrected for the split having been chosen as the best of its segment
  (see _selection_adjusted) below cp_pvalue. Without the correction about one stable 200-commit
  series in 25 with 30% noise showed a "significant" step; with it, about one in 1000;
- the ratio of segment medians (of per-commit medians) >= cp_min_ratio (slowdown) or
  <= cp_improvement_ratio (improvement), and the medians at least cp_min_shift_ms apart;
- a one-sided Mann-Whitney U on the raw passed durations of the two segments, in the direction of
  the change, below cp_mwu_pvalue.
A change point that fails is removed and its neighbours re-placed and re-evaluated on the merged
segments, so a rejected split never shortens the evidence of a real one.

Evidence: medians before/after, the Hodges-Lehmann shift (median of all after-minus-before
differences of raw durations) with the distribution-free 95% interval read off the ordered
differences (Lehmann/Moses; the rank from the normal approximation of the U distribution),
p-values, and counts. Everything is deterministic: no permutations, no resampling.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtri, stdtr
from scipy.stats import mannwhitneyu

from .data import PASSED, RunMeta, TestRun
from .params import MetricParams

SLOWDOWN = "slowdown"
IMPROVEMENT = "improvement"

# Above this many after-minus-before pairs the Hodges-Lehmann evidence is computed on evenly
# spaced quantiles of each side instead of every raw value, bounding memory (a test rerun many
# times per commit would otherwise need hundreds of millions of differences).
_HL_MAX_PAIRS = 1_000_000
_HL_MAX_SIDE = 1000


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """A change in level: `index` is the first point of the new segment."""

    index: int
    pvalue: float  # Student's t-test between the two neighbouring segments
    mean_before: float
    mean_after: float


def _ttest_pvalue(left: np.ndarray, right: np.ndarray) -> float:
    """Two-sided Student's t-test (pooled variance) p-value between two samples."""
    n1, n2 = len(left), len(right)
    df = n1 + n2 - 2
    if n1 == 0 or n2 == 0 or df <= 0:
        return 1.0
    m1, m2 = float(left.mean()), float(right.mean())
    ss = float(((left - m1) ** 2).sum() + ((right - m2) ** 2).sum())
    se = math.sqrt(ss / df * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        # Two flat segments: any difference at all is certain, none is no evidence.
        return 0.0 if m1 != m2 else 1.0
    t = abs(m2 - m1) / se
    return float(2.0 * stdtr(df, -t))


def _selection_adjusted(pvalue: float, length: int, min_points: int) -> float:
    """The t-test p-value of a split corrected for the split having been chosen as the best one.

    The split maximises a divergence over every admissible position of its segment, so its
    nominal p-value is optimistic: on stable series with 30% noise roughly one in twenty-five
    200-commit histories shows a "significant" step. The correction is Lausen & Schumacher's
    (1992) approximation for a maximally selected statistic, with positions restricted to
    [min_points, length - min_points], capped by Bonferroni over those positions and never below
    the nominal value. The nominal p is first turned into the normal deviate with the same
    two-sided p, so small segments keep their Student's t tails.
    """
    if pvalue <= 0.0:
        return 0.0
    positions = length - 2 * min_points + 1
    if positions <= 1:
        return pvalue
    c = float(ndtri(1.0 - pvalue / 2.0))
    if not math.isfinite(c) or c <= 1.0:
        return min(1.0, pvalue * positions)
    lo = min_points / length
    hi = 1.0 - lo
    phi = math.exp(-c * c / 2.0) / math.sqrt(2.0 * math.pi)
    approx = 4.0 * phi / c + phi * (c - 1.0 / c) * math.log(hi * (1.0 - lo) / (lo * (1.0 - hi)))
    return min(1.0, max(pvalue, min(approx, pvalue * positions)))


def _best_split(s: np.ndarray, a: int, b: int, m: int) -> tuple[int, float] | None:
    """The tau in [a, b) maximising E-Divisive's Q-hat(tau, kappa) over kappa, with >= m a side.

    `s` is the 2-D prefix sum of the upper triangle of |z_i - z_j| (s[i, j] = sum over p < i,
    q < j), so every within- and between-segment distance sum is four lookups.
    """
    if b - a < 2 * m:
        return None
    taus = np.arange(a + m, b - m + 1)[:, None]
    kappas = np.arange(a + 2 * m, b + 1)[None, :]
    valid = kappas - taus >= m
    t = np.broadcast_to(taus, valid.shape)
    k = np.where(valid, kappas, taus + m)  # placeholder kappa where invalid, keeps indices legal
    n1 = (t - a).astype(float)
    n2 = (k - t).astype(float)
    cross = s[t, k] - s[t, t] - s[a, k] + s[a, t]
    within_left = s[t, t] - s[a, t]
    within_right = s[k, k] - s[t, k]
    e_hat = (
        2.0 * cross / (n1 * n2)
        - within_left / (n1 * (n1 - 1) / 2.0)
        - within_right / (n2 * (n2 - 1) / 2.0)
    )
    q = np.where(valid, n1 * n2 / (n1 + n2) * e_hat, -np.inf)
    i, _ = np.unravel_index(int(np.argmax(q)), q.shape)
    return int(taus[i, 0]), float(q.max())


def _best_ttest_pvalue(z: np.ndarray, m: int) -> float:
    """The smallest t-test p-value of any split of z with >= m points a side.

    E-Divisive tests its candidate with this same t-test over the whole window, so when no
    split reaches the level, the window has no change point and Q-hat need not be computed.
    """
    n = len(z)
    cs = np.cumsum(z)
    cs2 = np.cumsum(z * z)
    t = np.arange(m, n - m + 1)
    n1 = t.astype(float)
    n2 = n - n1
    m1 = cs[t - 1] / n1
    m2 = (cs[-1] - cs[t - 1]) / n2
    ss = (cs2[t - 1] - n1 * m1 * m1) + (cs2[-1] - cs2[t - 1] - n2 * m2 * m2)
    diff = np.abs(m2 - m1)
    se2 = np.maximum(ss, 0.0) / (n - 2) * (1.0 / n1 + 1.0 / n2)
    # Rounding can leave a hair of variance in flat segments; treat it as none.
    flat = se2 <= 1e-24 * np.maximum(np.abs(z).max(), 1.0) ** 2
    if np.any(flat & (diff > 1e-12)):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.where(flat, 0.0, diff / np.sqrt(np.where(flat, 1.0, se2)))
    return float(2.0 * stdtr(n - 2, -float(tstat.max())))


def _divisive(z: np.ndarray, m: int, pvalue: float) -> list[int]:
    """Hierarchical E-Divisive on one window, significance by t-test; returns split indices."""
    n = len(z)
    if n < 2 * m or _best_ttest_pvalue(z, m) > pvalue:
        return []
    upper = np.triu(np.abs(z[:, None] - z[None, :]), 1)
    s = np.zeros((n + 1, n + 1))
    s[1:, 1:] = upper.cumsum(axis=0).cumsum(axis=1)
    splits: list[int] = []
    # Best split of each interval; an interval is only re-examined once it is new.
    candidates: dict[tuple[int, int], tuple[int, float] | None] = {}
    while True:
        bounds = [0, *splits, n]
        best: tuple[int, int, int, float] | None = None
        for a, b in zip(bounds, bounds[1:], strict=False):
            if (a, b) not in candidates:
                candidates[(a, b)] = _best_split(s, a, b, m)
            found = candidates[(a, b)]
            if found is not None and (best is None or found[1] > best[3]):
                best = (a, b, found[0], found[1])
        if best is None:
            break
        a, b, tau, _ = best
        if _ttest_pvalue(z[a:tau], z[tau:b]) > pvalue:
            # As in E-Divisive: the strongest remaining candidate is not significant, so none is.
            break
        insort(splits, tau)
    return splits


@lru_cache(maxsize=8192)
def _divisive_of(values: bytes, m: int, pvalue: float) -> tuple[int, ...]:
    """_divisive of the float64 window `values`, remembered: a recompute after a new upload sees
    the same windows of a test's series again, but for the last one or two (under 5 MB in all)."""
    return tuple(_divisive(np.frombuffer(values, dtype=float), m, pvalue))


def _split_in_span(z: np.ndarray, a: int, b: int, m: int) -> int:
    """The tau in [a + m, b - m] maximising Q-hat(tau, b) of the span z[a:b] (one split)."""
    seg = z[a:b]
    n = b - a
    upper = np.triu(np.abs(seg[:, None] - seg[None, :]), 1)
    s = np.zeros((n + 1, n + 1))
    s[1:, 1:] = upper.cumsum(axis=0).cumsum(axis=1)
    t = np.arange(m, n - m + 1)
    n1 = t.astype(float)
    n2 = (n - t).astype(float)
    cross = s[t, n] - s[t, t]
    within_left = s[t, t]
    within_right = s[n, n] - s[t, n]
    e_hat = (
        2.0 * cross / (n1 * n2)
        - within_left / (n1 * (n1 - 1) / 2.0)
        - within_right / (n2 * (n2 - 1) / 2.0)
    )
    q = n1 * n2 / (n1 + n2) * e_hat
    return a + int(t[int(np.argmax(q))])


def _refine(z: np.ndarray, indices: list[int], m: int, window: int) -> list[int]:
    """Re-place each change point at the best split between its neighbours.

    A window that ends a few points after a change can only split at least m points before its
    end, so the split pass may place a change a little early, and the next window (starting at
    that split) cannot correct it. Re-placing each point at the Q-hat maximum of the span between
    its neighbours (clipped to `window` points a side, keeping the cost bounded) fixes that.
    """
    out = list(indices)
    for _ in range(5):
        moved = False
        for i in range(len(out)):
            lo = out[i - 1] if i > 0 else 0
            hi = out[i + 1] if i + 1 < len(out) else len(z)
            a = max(lo, out[i] - window)
            b = min(hi, out[i] + window)
            if b - a < 2 * m:
                continue
            best = _split_in_span(z, a, b, m)
            if best != out[i]:
                out[i] = best
                moved = True
        if not moved:
            break
    return out


def _pinned(z: np.ndarray, lo: int, index: int, hi: int, m: int, window: int) -> bool:
    """Whether the change at `index` is really closer than m points to a segment end.

    With m points required a side, a jump three points before the end of the data is placed
    m points before it, one old point joining the new regime, and still looks significant. The
    best split with the requirement relaxed to two a side shows where the change really is; if
    that leaves fewer than m points a side, there are not yet enough points to accept it.
    """
    a = max(lo, index - window)
    b = min(hi, index + window)
    if b - a < 4:
        return False
    free = _split_in_span(z, a, b, 2)
    return free - lo < m or hi - free < m


def _first_pinned(z: np.ndarray, indices: list[int], m: int, window: int) -> int | None:
    bounds = [0, *indices, len(z)]
    for i in range(len(indices)):
        if _pinned(z, bounds[i], bounds[i + 1], bounds[i + 2], m, window):
            return i
    return None


def _segment_pvalues(z: np.ndarray, indices: list[int]) -> list[float]:
    bounds = [0, *indices, len(z)]
    return [
        _ttest_pvalue(z[bounds[i] : bounds[i + 1]], z[bounds[i + 1] : bounds[i + 2]])
        for i in range(len(indices))
    ]


def _merge(z: np.ndarray, indices: list[int], max_pvalue: float) -> list[int]:
    """Otava's merge: drop the weakest change point until all have p < max_pvalue."""
    indices = list(indices)
    while indices:
        pvalues = _segment_pvalues(z, indices)
        worst = max(range(len(indices)), key=lambda i: (pvalues[i], -i))
        if pvalues[worst] < max_pvalue:
            break
        del indices[worst]
    return indices


def find_change_points(
    values: Sequence[float], *, window: int, max_pvalue: float, min_points: int
) -> list[ChangePoint]:
    """Otava-style change points of `values` (already on the scale to test, e.g. log).

    Windowed E-Divisive split at a relaxed level, then merge down to p < max_pvalue against the
    neighbouring segments. Deterministic; O(n * window^2) time.
    """
    z = np.asarray(values, dtype=float)
    n = len(z)
    # Q-hat's within-segment term needs two points a side; E-Divisive's min.size does the same.
    m = max(int(min_points), 2)
    window = max(int(window), 2 * m)
    if n < 2 * m:
        return []
    # Otava's first pass: 10x the final level (2x from 0.05 up), so the merge has weak points
    # to choose from.
    first_pass = max_pvalue * 10 if max_pvalue < 0.05 else min(max_pvalue * 2, 1.0)
    step = max(window // 2, 1)
    weak: set[int] = set()
    start = 0
    while start < n:
        end = min(start + window, n)
        local = _divisive_of(z[start:end].tobytes(), m, first_pass)
        weak.update(start + i for i in local)
        # Next window starts at the last split found or half a window on, whichever is later, so
        # a change near a window's edge is seen again from the middle of the next one.
        start = max(start + local[-1] if local else 0, start + step)

    indices = _merge(z, sorted(weak), max_pvalue)
    while True:
        # Re-place the survivors, then merge again in case a move made a neighbour weaker.
        refined = _refine(z, indices, m, window)
        if refined != indices:
            indices = _merge(z, refined, max_pvalue)
        pinned = _first_pinned(z, indices, m, window)
        if pinned is None:
            break
        del indices[pinned]

    bounds = [0, *indices, n]
    out = []
    pvalues = _segment_pvalues(z, indices)
    for i, index in enumerate(indices):
        out.append(
            ChangePoint(
                index=index,
                pvalue=pvalues[i],
                mean_before=float(z[bounds[i] : index].mean()),
                mean_after=float(z[index : bounds[i + 2]].mean()),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class CommitPoint:
    """One commit of a test's reference-branch duration series."""

    commit: str
    time: dt.datetime  # start of the commit's first run on the reference branch
    median_ms: float  # median of passed first-attempt durations at this commit
    durations_ms: tuple[float, ...]  # those durations (raw, milliseconds)


@dataclass(frozen=True, slots=True)
class DurationChange:
    kind: str  # SLOWDOWN or IMPROVEMENT
    index: int  # position of `commit` in the series
    commit: str  # first commit after the change (the culprit candidate)
    time: dt.datetime  # that commit's time: the change belongs to this week
    last_commit_before: str
    before_median_ms: float  # median of the per-commit medians of the segment before
    after_median_ms: float
    ratio: float  # after / before
    shift_ms: float  # Hodges-Lehmann shift, raw durations, after minus before
    shift_low_ms: float  # 95% interval of the shift
    shift_high_ms: float
    ttest_pvalue: float  # on log medians, between the two segments, as tested
    adjusted_pvalue: float  # the same corrected for the choice of the split (the gate)
    mwu_pvalue: float  # one-sided, raw durations, in the direction of `kind`
    n_before: int  # commits in the segment before
    n_after: int
    n_before_durations: int  # raw durations in the segment before
    n_after_durations: int

    def evidence(self) -> dict[str, object]:
        """JSON-ready evidence for the finding."""
        return {
            "kind": self.kind,
            "commit": self.commit,
            "time": self.time.isoformat(),
            "last_commit_before": self.last_commit_before,
            "before_median_ms": self.before_median_ms,
            "after_median_ms": self.after_median_ms,
            "ratio": self.ratio if math.isfinite(self.ratio) else None,
            "shift_ms": self.shift_ms,
            "shift_ci95_ms": [self.shift_low_ms, self.shift_high_ms],
            "ttest_pvalue": self.ttest_pvalue,
            "adjusted_pvalue": self.adjusted_pvalue,
            "mwu_pvalue": self.mwu_pvalue,
            "n_before": self.n_before,
            "n_after": self.n_after,
            "n_before_durations": self.n_before_durations,
            "n_after_durations": self.n_after_durations,
        }


def hodges_lehmann(
    before: Sequence[float] | np.ndarray,
    after: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Hodges-Lehmann shift (after minus before) and its distribution-free interval.

    The interval is [D_(k), D_(mn+1-k)] of the ordered pairwise differences, k from the normal
    approximation of the Mann-Whitney U null distribution (close to the exact table from five a
    side up). Large samples are thinned to evenly spaced quantiles first (see _HL_MAX_PAIRS).
    """
    x = np.sort(np.asarray(before, dtype=float))
    y = np.sort(np.asarray(after, dtype=float))
    if len(x) * len(y) > _HL_MAX_PAIRS:
        grid = np.linspace(0.0, 1.0, _HL_MAX_SIDE)
        if len(x) > _HL_MAX_SIDE:
            x = np.quantile(x, grid)
        if len(y) > _HL_MAX_SIDE:
            y = np.quantile(y, grid)
    m, n = len(x), len(y)
    diffs = np.subtract.outer(y, x).ravel()
    total = m * n
    z = float(ndtri(0.5 + confidence / 2.0))
    k = int(math.floor(total / 2.0 - z * math.sqrt(total * (m + n + 1) / 12.0)))
    k = min(max(k, 1), (total + 1) // 2)
    lo_i, hi_i = k - 1, total - k
    mid = (total - 1) / 2.0
    kth = sorted({lo_i, hi_i, int(math.floor(mid)), int(math.ceil(mid))})
    part = np.partition(diffs, kth)
    shift = float((part[int(math.floor(mid))] + part[int(math.ceil(mid))]) / 2.0)
    return shift, float(part[lo_i]), float(part[hi_i])


@dataclass(slots=True)
class _Segmented:
    """A candidate change evaluated against its neighbouring segments."""

    index: int
    pvalue: float
    adjusted_pvalue: float
    kind: str | None  # None: fails a gate
    before_median: float
    after_median: float
    mwu_pvalue: float

    @property
    def log_change(self) -> float:
        return abs(math.log1p(self.after_median) - math.log1p(self.before_median))


def _evaluate(
    z: np.ndarray,
    medians: np.ndarray,
    points: Sequence[CommitPoint],
    lo: int,
    index: int,
    hi: int,
    params: MetricParams,
) -> _Segmented:
    pvalue = _ttest_pvalue(z[lo:index], z[index:hi])
    adjusted = _selection_adjusted(pvalue, hi - lo, max(params.cp_min_points, 2))
    before_median = float(np.median(medians[lo:index]))
    after_median = float(np.median(medians[index:hi]))
    kind: str | None = None
    mwu_p = 1.0
    m = max(params.cp_min_points, 2)
    enough = (
        index - lo >= params.cp_min_points
        and hi - index >= params.cp_min_points
        and not _pinned(z, lo, index, hi, m, params.cp_window)
    )
    big_enough = abs(after_median - before_median) >= params.cp_min_shift_ms
    if enough and big_enough and adjusted < params.cp_pvalue:
        if before_median <= 0:
            ratio = math.inf if after_median > 0 else 1.0
        else:
            ratio = after_median / before_median
        direction = None
        if ratio >= params.cp_min_ratio:
            direction = SLOWDOWN
        elif ratio <= params.cp_improvement_ratio:
            direction = IMPROVEMENT
        if direction is not None:
            before_raw = _raw(points[lo:index])
            after_raw = _raw(points[index:hi])
            # One-sided in the direction of the change: a slowdown needs after > before.
            alternative = "greater" if direction == SLOWDOWN else "less"
            mwu_p = float(mannwhitneyu(after_raw, before_raw, alternative=alternative).pvalue)
            if mwu_p < params.cp_mwu_pvalue:
                kind = direction
    return _Segmented(index, pvalue, adjusted, kind, before_median, after_median, mwu_p)


def _raw(points: Sequence[CommitPoint]) -> np.ndarray:
    values: list[float] = []
    for p in points:
        # A point built without its raw durations still has its median to stand for it.
        values.extend(p.durations_ms if p.durations_ms else (p.median_ms,))
    return np.asarray(values, dtype=float)


def duration_changes(points: Sequence[CommitPoint], params: MetricParams) -> list[DurationChange]:
    """Accepted duration changes of one test's commit series (see the module docstring).

    `points` are sorted by (time, commit) here, so callers may pass them in any order.
    """
    pts = sorted(points, key=lambda p: (p.time, p.commit))
    n = len(pts)
    if n < 2 * params.cp_min_points:
        return []
    medians = np.asarray([p.median_ms for p in pts], dtype=float)
    # No two segment medians can differ by more than the series' own range: a cheap exit that
    # spares the detector for most tests of a service (fast, steady unit tests).
    lo_m, hi_m = float(medians.min()), float(medians.max())
    if hi_m - lo_m < params.cp_min_shift_ms:
        return []
    if lo_m > 0 and params.cp_improvement_ratio < lo_m / hi_m and hi_m / lo_m < params.cp_min_ratio:
        return []
    z = np.log1p(np.maximum(medians, 0.0))
    m = max(params.cp_min_points, 2)

    indices = [
        cp.index
        for cp in find_change_points(
            z,
            window=params.cp_window,
            max_pvalue=params.cp_pvalue,
            min_points=params.cp_min_points,
        )
    ]
    evaluated: list[_Segmented] = []
    while indices:
        bounds = [0, *indices, n]
        evaluated = [
            _evaluate(z, medians, pts, bounds[i], bounds[i + 1], bounds[i + 2], params)
            for i in range(len(indices))
        ]
        failing = [i for i, e in enumerate(evaluated) if e.kind is None]
        if not failing:
            break
        # Drop the least convincing failure (largest adjusted p, then smallest change in log
        # level), then re-test its neighbours on the merged segment.
        worst = max(
            failing, key=lambda i: (evaluated[i].adjusted_pvalue, -evaluated[i].log_change, -i)
        )
        del indices[worst]
        # The merged segment may place the remaining neighbours better.
        indices = _refine(z, indices, m, params.cp_window)
    if not indices:
        return []

    bounds = [0, *indices, n]
    out = []
    for i, e in enumerate(evaluated):
        lo, index, hi = bounds[i], bounds[i + 1], bounds[i + 2]
        before_raw = _raw(pts[lo:index])
        after_raw = _raw(pts[index:hi])
        shift, shift_lo, shift_hi = hodges_lehmann(before_raw, after_raw)
        assert e.kind is not None
        out.append(
            DurationChange(
                kind=e.kind,
                index=index,
                commit=pts[index].commit,
                time=pts[index].time,
                last_commit_before=pts[index - 1].commit,
                before_median_ms=e.before_median,
                after_median_ms=e.after_median,
                ratio=e.after_median / e.before_median if e.before_median > 0 else math.inf,
                shift_ms=shift,
                shift_low_ms=shift_lo,
                shift_high_ms=shift_hi,
                ttest_pvalue=e.pvalue,
                adjusted_pvalue=e.adjusted_pvalue,
                mwu_pvalue=e.mwu_pvalue,
                n_before=index - lo,
                n_after=hi - index,
                n_before_durations=len(before_raw),
                n_after_durations=len(after_raw),
            )
        )
    return out


def commit_points(
    runs: Iterable[RunMeta], test_runs: Iterable[TestRun], *, reference_branch: str
) -> dict[int, list[CommitPoint]]:
    """Per test, its reference-branch commit series of passed first-attempt durations.

    A commit's time is the start of its earliest reference-branch run (of any test), so every
    test of a service orders its commits the same way. Test-runs of runs not in `runs` are ignored.
    """
    ref_runs = {r.id: r for r in runs if r.branch == reference_branch}
    commit_time: dict[str, dt.datetime] = {}
    for r in ref_runs.values():
        if r.commit not in commit_time or r.started_at < commit_time[r.commit]:
            commit_time[r.commit] = r.started_at
    commit_of = {rid: r.commit for rid, r in ref_runs.items()}
    by_test: dict[int, dict[str, list[float]]] = {}
    for tr in test_runs:
        if tr.first != PASSED or tr.first_duration_ms is None:
            continue
        commit = commit_of.get(tr.run)
        if commit is None:
            continue
        per_commit = by_test.get(tr.test)
        if per_commit is None:
            by_test[tr.test] = {commit: [float(tr.first_duration_ms)]}
        elif commit in per_commit:
            per_commit[commit].append(float(tr.first_duration_ms))
        else:
            per_commit[commit] = [float(tr.first_duration_ms)]
    out: dict[int, list[CommitPoint]] = {}
    for test, per_commit in by_test.items():
        series = [
            CommitPoint(commit, commit_time[commit], *median_sorted(durations))
            for commit, durations in per_commit.items()
        ]
        series.sort(key=lambda p: (p.time, p.commit))
        out[test] = series
    return out


def median_sorted(values: list[float]) -> tuple[float, tuple[float, ...]]:
    """(median, sorted values) of a non-empty list; the median as statistics.median computes it
    (numpy's call overhead dominates on a handful of values)."""
    if len(values) == 1:
        return values[0], (values[0],)
    ordered = tuple(sorted(values))
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half], ordered
    return (ordered[half - 1] + ordered[half]) / 2, ordered


def service_duration_changes(
    runs: Iterable[RunMeta], test_runs: Iterable[TestRun], params: MetricParams
) -> dict[int, list[DurationChange]]:
    """Accepted duration changes of every test of a service; tests without one are left out."""
    series = commit_points(runs, test_runs, reference_branch=params.reference_branch)
    return changes_by_test(series, params)


def changes_by_test(
    series: Mapping[int, Sequence[CommitPoint]], params: MetricParams
) -> dict[int, list[DurationChange]]:
    """duration_changes over prepared series (the caller built or cached the CommitPoints)."""
    out: dict[int, list[DurationChange]] = {}
    for test in sorted(series):
        changes = duration_changes(series[test], params)
        if changes:
            out[test] = changes
    return out
