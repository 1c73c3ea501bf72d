from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from reports.metrics.stats import (
    benjamini_hochberg,
    binary_entropy,
    failures_contiguous,
    fisher_greater,
    fisher_greater_many,
    flip_rate,
    haldane_odds_ratio,
    laplace_rate,
    risk_difference_lower,
    stratified_exact_greater,
    wilson_interval,
)


def test_it_adjusts_pvalues_like_the_textbook_example():
    # m = 5; p·m/rank = 0.05, 0.05, 0.05, 0.125, 0.5 → step-up minimum from the right.
    q = benjamini_hochberg([0.01, 0.02, 0.03, 0.1, 0.5])
    assert q == pytest.approx([0.05, 0.05, 0.05, 0.125, 0.5])


def test_it_keeps_input_order_and_caps_at_one():
    q = benjamini_hochberg([0.9, 0.001, 0.95, 0.04])
    # sorted: 0.001 (·4/1=0.004), 0.04 (·4/2=0.08), 0.9 (·4/3=1.2), 0.95 (·4/4=0.95)
    assert q == pytest.approx([0.95, 0.004, 0.95, 0.08])
    assert benjamini_hochberg([]).size == 0


def test_bh_q_values_are_monotone_in_p():
    rng = np.random.default_rng(3)
    p = rng.random(200)
    q = benjamini_hochberg(p)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= -1e-15)
    assert np.all(q >= p)


def test_it_matches_scipy_fisher_exact_for_one_table():
    expected = scipy_stats.fisher_exact([[8, 2], [1, 5]], alternative="greater").pvalue
    assert fisher_greater(8, 2, 1, 5) == pytest.approx(expected)


def test_the_vectorised_fisher_matches_the_scalar_one():
    rng = np.random.default_rng(7)
    tables = rng.integers(0, 12, size=(300, 4))
    got = fisher_greater_many(*tables.T)
    for (a, b, c, d), p in zip(tables, got, strict=True):
        assert p == pytest.approx(
            fisher_greater(int(a), int(b), int(c), int(d)), rel=1e-9, abs=1e-12
        )


def test_a_table_with_an_empty_row_or_column_is_uninformative():
    p = fisher_greater_many(
        np.array([0, 5, 3, 0]),
        np.array([0, 5, 0, 4]),
        np.array([4, 0, 2, 0]),
        np.array([5, 0, 0, 3]),
    )
    assert p.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_one_stratum_is_fishers_test():
    for a, b, c, d in [(5, 1, 1, 5), (3, 0, 0, 4), (2, 3, 4, 1)]:
        got = stratified_exact_greater([a], [a + b], [a + c], [a + b + c + d])
        assert got == pytest.approx(fisher_greater(a, b, c, d))


def test_stratified_exact_test_matches_a_hand_convolution():
    # stratum 1: n=6, 3 earlier, 4 failed -> a ∈ {1,2,3} with probabilities .2 .6 .2
    # stratum 2: n=6, 3 earlier, 3 failed -> a ∈ {0..3} with probabilities 1/20 9/20 9/20 1/20
    # observed 3 + 2 = 5: P(S ≥ 5) = .2·(10/20) + .6·(1/20) = .13
    assert stratified_exact_greater([3, 2], [3, 3], [4, 3], [6, 6]) == pytest.approx(0.13)


def test_strata_with_a_fixed_margin_carry_no_evidence():
    # Stratum 1: everything fails; stratum 2: everything passes. "Earlier" is more common in the
    # first, so pooled it looks bad; within strata there is nothing to see.
    assert fisher_greater(9, 2, 1, 8) < 0.01
    assert stratified_exact_greater([9, 0], [9, 2], [10, 0], [10, 10]) == 1.0


def test_wilson_interval_matches_the_published_example():
    lo, hi = wilson_interval(np.array(8), np.array(10), 1.959964)
    assert (float(lo), float(hi)) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    lo, hi = wilson_interval(np.array(0), np.array(0), 1.96)
    assert (float(lo), float(hi)) == (0.0, 1.0)


def test_risk_difference_bound_matches_newcombes_example():
    # Newcombe (1998), 56/70 − 48/80, method 10: 95% interval 0.0524 to 0.3339
    assert float(risk_difference_lower(56, 14, 48, 32, 1.959964)) == pytest.approx(0.0524, abs=1e-4)


def test_laplace_rate_never_reaches_zero_or_one():
    assert laplace_rate(0, 0) == 0.5
    assert laplace_rate(0, 98) == pytest.approx(1 / 100)
    assert laplace_rate(10, 10) == pytest.approx(11 / 12)


def test_haldane_odds_ratio_is_finite_with_empty_cells():
    assert haldane_odds_ratio(5, 0, 0, 5) == pytest.approx((5.5 * 5.5) / (0.5 * 0.5))


def test_flip_rate_tells_a_regression_from_flakiness():
    P, F = False, True
    assert flip_rate([P, P, P, F, F]) == pytest.approx(0.25)
    assert flip_rate([P, F, P, F, P]) == pytest.approx(1.0)
    assert flip_rate([F]) == 0.0


def test_entropy_peaks_at_one_half():
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.0) == 0.0
    assert binary_entropy(1.0) == 0.0
    assert binary_entropy(0.25) == pytest.approx(-(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75)))


def test_contiguous_failures():
    P, F = False, True
    assert failures_contiguous([P, F, F, F, P])
    assert not failures_contiguous([F, P, F])
    assert not failures_contiguous([P, P])
