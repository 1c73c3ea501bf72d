"""Small statistics used by the isolation metrics.

- Benjamini–Hochberg adjusted p-values (q-values) for a family of tests.
- One-sided Fisher exact test ("the first row fails more often"): a scalar wrapper over
  scipy.stats.fisher_exact and a vectorised form over many 2×2 tables, which is the
  hypergeometric upper tail scipy computes for alternative="greater".
- An exact one-sided test over stratified 2×2 tables (the exact form of Cochran–Mantel–Haenszel),
  used to check that an association survives when the tables are split by position.
- Wilson intervals and a lower confidence bound of a risk difference (Newcombe's method 10).
- Laplace-smoothed failure rates, Haldane-corrected odds ratios, flip rate and binary entropy
  of an outcome sequence (research/algorithms.md §1.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as _stats


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values, in the order of the input.

    q_(i) = min over j ≥ i of p_(j) · m / j, capped at 1 (step-up procedure).
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m, dtype=float)
    out[order] = np.minimum(q_sorted, 1.0)
    return out


def fisher_greater(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher exact p-value for [[a, b], [c, d]]: is a larger than chance?"""
    return float(_stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue)


def fisher_greater_many(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """fisher_greater over arrays of tables at once.

    With margins fixed, a follows a hypergeometric law (population a+b+c+d, a+c successes,
    a+b draws); the one-sided p-value is P(X ≥ a). Tables with an empty row or column carry no
    information and get p = 1.
    """
    a, b, c, d = (np.asarray(x, dtype=np.int64) for x in (a, b, c, d))
    total = a + b + c + d
    successes = a + c
    draws = a + b
    p = np.ones(a.shape, dtype=float)
    informative = (draws > 0) & (successes > 0) & (draws < total) & (successes < total)
    if informative.any():
        p[informative] = _stats.hypergeom.sf(
            a[informative] - 1, total[informative], successes[informative], draws[informative]
        )
    return np.clip(p, 0.0, 1.0)


def laplace_rate(failures: int, n: int) -> float:
    """Laplace-smoothed failure rate (f + 1) / (n + 2): 1/2 with no history, never 0 or 1."""
    return (failures + 1) / (n + 2)


def haldane_odds_ratio(a: int, b: int, c: int, d: int) -> float:
    """Odds ratio with 0.5 added to each cell, so empty cells give a finite value."""
    return ((a + 0.5) * (d + 0.5)) / ((b + 0.5) * (c + 0.5))


def flip_rate(failed: Sequence[bool]) -> float:
    """Share of consecutive pairs whose outcomes differ: flips / (n − 1); 0 when n < 2."""
    n = len(failed)
    if n < 2:
        return 0.0
    flips = sum(1 for i in range(1, n) if failed[i] != failed[i - 1])
    return flips / (n - 1)


def binary_entropy(failure_rate: float) -> float:
    """Entropy in bits of a pass/fail outcome with this failure rate (0 at 0 and 1, 1 at 0.5)."""
    f = failure_rate
    if f <= 0.0 or f >= 1.0:
        return 0.0
    return -(f * math.log2(f) + (1.0 - f) * math.log2(1.0 - f))


def failures_contiguous(failed: Sequence[bool]) -> bool:
    """True when all failures of the sequence form one unbroken block (none → False)."""
    idx = [i for i, x in enumerate(failed) if x]
    if not idx:
        return False
    return idx[-1] - idx[0] + 1 == len(idx)


def stratified_exact_greater(
    a: Sequence[int], row1: Sequence[int], col1: Sequence[int], total: Sequence[int]
) -> float:
    """Exact one-sided test that Σ a over strata is larger than chance, margins fixed.

    Under the null each stratum's top-left cell is hypergeometric; the sum's distribution is the
    convolution of those, so small strata (even pairs) are handled without a normal
    approximation.
    """
    cell, n1, k1, n = (np.asarray(x, dtype=np.int64) for x in (a, row1, col1, total))
    lo = np.maximum(0, n1 + k1 - n)
    hi = np.minimum(n1, k1)
    live = hi > lo  # strata with a fixed cell carry no information
    if not live.any():
        return 1.0
    cell, n1, k1, n, lo, hi = cell[live], n1[live], k1[live], n[live], lo[live], hi[live]
    sizes = hi - lo + 1
    stratum = np.repeat(np.arange(len(sizes)), sizes)
    x = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes) + lo[stratum]
    pmf = _stats.hypergeom.pmf(x, n[stratum], k1[stratum], n1[stratum])
    dist = np.ones(1)
    for piece in np.split(pmf, np.cumsum(sizes)[:-1]):
        dist = np.convolve(dist, piece)
    observed = int((cell - lo).sum())
    return float(min(1.0, max(0.0, dist[observed:].sum())))


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion, elementwise; (0, 1) where n = 0."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    safe = np.maximum(n, 1.0)
    p = k / safe
    den = 1.0 + z * z / safe
    centre = (p + z * z / (2.0 * safe)) / den
    half = z * np.sqrt(p * (1.0 - p) / safe + z * z / (4.0 * safe * safe)) / den
    lo = np.where(n > 0, np.maximum(centre - half, 0.0), 0.0)
    hi = np.where(n > 0, np.minimum(centre + half, 1.0), 1.0)
    return lo, hi


def risk_difference_lower(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, z: float
) -> np.ndarray:
    """Lower confidence bound of a/(a+b) − c/(c+d) (Newcombe's hybrid score method 10)."""
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    n1, n2 = a + b, c + d
    p1 = a / np.maximum(n1, 1.0)
    p2 = c / np.maximum(n2, 1.0)
    l1, _ = wilson_interval(a, n1, z)
    _, u2 = wilson_interval(c, n2, z)
    return (p1 - p2) - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
