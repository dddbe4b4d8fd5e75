"""The collapse guard's tests (docs/design.md 2.10): when a predictor's hop or head has stopped saying anything.

numpy only, so that a campaign can check its proposals without importing torch.
"""
from __future__ import annotations

import numpy as np

from core import metrics

#: A member's hop has collapsed when its graph-embedding norms rank the training targets with a
#: Spearman correlation below this (the hop's module scores then say little about performance).
COLLAPSE_SPEARMAN = 0.5

#: A member's head has collapsed when fewer than this share of the training rows get distinct predictions
#: (a saturated head predicts one value for most architectures: the rounds that propose blind).
DISTINCT_PREDICTIONS = 0.5


def hop_spearman(norms: np.ndarray, y: np.ndarray) -> list[float]:
    """Spearman of each hop's graph-embedding norm [G, L+1] with the targets y [G] (NaN when undefined)."""
    return [float(metrics.spearman(norms[:, h], y)) for h in range(norms.shape[1])]


def collapsed_hops(member_spearman: np.ndarray) -> np.ndarray:
    """used [K, L+1] from the members' train-split hop-norm Spearman [K, L+1]: a member is left out of a
    hop where its Spearman is below :data:`COLLAPSE_SPEARMAN` (or undefined), unless every member is,
    in which case all are kept and the hop is reported unreliable instead."""
    rho = np.nan_to_num(np.asarray(member_spearman, dtype=np.float64), nan=-1.0)
    used = (rho >= COLLAPSE_SPEARMAN).astype(np.float64)
    none_left = used.sum(0) == 0
    used[:, none_left] = 1.0
    return used


def tied_head(predictions: np.ndarray) -> bool:
    """Whether one member's predictions [G] are tied on most rows (its head predicts one value for most
    architectures): fewer than :data:`DISTINCT_PREDICTIONS` of them distinct at 6 significant digits."""
    values = np.asarray(predictions, dtype=np.float64)
    if values.size < 4:
        return False
    distinct = np.unique(np.round(values / (np.abs(values).max() + 1e-12), 6)).size
    return distinct < DISTINCT_PREDICTIONS * values.size
