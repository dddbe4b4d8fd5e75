"""Predictor metrics (core.metrics) on inputs whose answers are known by hand."""
import math

import numpy as np
import pytest

from core import metrics as M


def test_rank_correlations_of_orders_known_by_hand():
    a = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert M.spearman(a, [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert M.spearman(a, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert M.spearman(a, np.exp(a)) == pytest.approx(1.0)  # ranks only: any increasing map
    # One swapped pair of 5: Spearman 1 - 6*2/(5*24) = 0.9; Kendall (9 - 1) / 10 = 0.8.
    assert M.spearman(a, [1, 2, 4, 3, 5]) == pytest.approx(0.9)
    assert M.kendall_tau(a, [1, 2, 4, 3, 5]) == pytest.approx(0.8)


def test_undefined_correlations_are_nan():
    for f in (M.spearman, M.kendall_tau):
        assert math.isnan(f([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # a constant input
        assert math.isnan(f([1.0], [2.0]))
    assert math.isnan(M.mae([], []))


def test_mae_and_regret():
    assert M.mae([1.0, 2.0, 4.0], [1.5, 2.0, 3.0]) == pytest.approx(0.5)
    assert M.regret(93.5, 94.25) == pytest.approx(0.75)


def test_precision_at_k_counts_the_shared_top_k():
    true = [0.9, 0.8, 0.1, 0.2, 0.7]          # top-2: rows 0 and 1
    predicted = [0.9, 0.1, 0.2, 0.3, 0.8]     # top-2: rows 0 and 4
    assert M.precision_at_k(predicted, true, 2) == 0.5
    assert M.precision_at_k(true, true, 3) == 1.0
    assert M.precision_at_k(predicted, true, 10) == 1.0  # k capped at the number of rows
    assert math.isnan(M.precision_at_k(predicted, true, 0))


def test_hop_norm_spearman_is_one_value_per_hop():
    target = np.arange(6, dtype=float)
    norms = np.stack([target, -target, np.ones(6)], axis=1)  # [G=6, L+1=3]
    rho = M.hop_norm_spearman(norms, target)
    assert rho[:2] == pytest.approx([1.0, -1.0]) and math.isnan(rho[2])


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="length mismatch: 3 vs 2"):
        M.spearman([1, 2, 3], [1, 2])


def test_spearman_matches_scipy_with_ties_and_nan():
    # spearman ranks in numpy (scipy.stats costs `loop status` a second of imports); scipy is the reference.
    from scipy import stats

    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 257):
        for _ in range(20):
            x = rng.integers(0, 5, n).astype(float)  # many ties
            y = rng.normal(size=n)
            if np.ptp(x) == 0:
                continue
            assert M.spearman(x, y) == pytest.approx(float(stats.spearmanr(x, y).statistic), abs=1e-12)
    assert np.isnan(M.spearman([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]))
