"""Predictor and search metrics: Spearman, Kendall tau, MAE, precision@k, regret.

The vocabulary of NASLib's predictor evaluator. All functions take 1-D array-likes of equal length
and return plain floats (NaN when undefined, e.g. a constant input).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _pair(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"length mismatch: {x.size} vs {y.size}")
    return x, y


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = _pair(a, b)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    if np.isnan(x).any() or np.isnan(y).any():
        return float("nan")  # as scipy's spearmanr (nan_policy="propagate")
    # Pearson on average ranks, in numpy: scipy.stats takes ~1 s to import, which `loop status` would pay.
    return float(np.corrcoef(_average_ranks(x), _average_ranks(y))[0, 1])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` [N], tied values sharing the mean of their ranks (scipy's ``rankdata``)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = _pair(a, b)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    from scipy import stats

    return float(stats.kendalltau(x, y).statistic)


def mae(predicted: Sequence[float], true: Sequence[float]) -> float:
    x, y = _pair(predicted, true)
    return float(np.mean(np.abs(x - y))) if x.size else float("nan")


def precision_at_k(predicted: Sequence[float], true: Sequence[float], k: int) -> float:
    """Fraction of the true top-k (largest values) that are also in the predicted top-k."""
    x, y = _pair(predicted, true)
    k = min(k, x.size)
    if k <= 0:
        return float("nan")
    top_pred = set(np.argsort(-x, kind="stable")[:k].tolist())
    top_true = set(np.argsort(-y, kind="stable")[:k].tolist())
    return len(top_pred & top_true) / k


def hop_norm_spearman(hop_norms: np.ndarray, target: Sequence[float]) -> list[float]:
    """Spearman of each hop's graph-embedding L1 norm with the target.

    Args:
        hop_norms: [G, L+1], column h holds ||h_G^h||_1 of every graph.
        target: [G].
    """
    norms = np.asarray(hop_norms, dtype=np.float64)
    return [spearman(norms[:, h], target) for h in range(norms.shape[1])]


def regret(found: float, best: float) -> float:
    """How far a found value is below the best in the space (higher-is-better metrics)."""
    return float(best - found)
