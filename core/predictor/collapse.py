"""The collapse guard's tests (docs/design.md 2.10): when a predictor's hop or head has stopped saying anything.

numpy only, so that a campaign can check its proposals without importing torch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from core import metrics

#: A member whose graph-embedding norms rank the training targets with a Spearman correlation below this
#: at a hop where another member reaches it is left out of that hop; a hop has collapsed when every member
#: is below this share of the hop's ceiling (:func:`hop_ceilings`; 0.5 itself where the hop's modules could
#: rank the targets perfectly): its module scores then say little about performance.
COLLAPSE_SPEARMAN = 0.5

#: A member's head has collapsed when fewer than this share of the training rows get distinct predictions
#: (a saturated head predicts one value for most architectures: the rounds that propose blind).
DISTINCT_PREDICTIONS = 0.5


def hop_spearman(norms: np.ndarray, y: np.ndarray) -> list[float]:
    """Spearman of each hop's graph-embedding norm [G, L+1] with the targets y [G] (NaN when undefined)."""
    return [float(metrics.spearman(norms[:, h], y)) for h in range(norms.shape[1])]


def hop_ceilings(signatures: Sequence[Sequence[Sequence[str]]], y: np.ndarray) -> np.ndarray:
    """[L+1] how well each hop's modules can rank the targets ``y`` [G] by the table alone: the Spearman of
    ``y`` with each architecture's mean, over its distinct hop-h modules, of the module's mean target in the
    table (in sample). ``signatures[g][h]``: the signatures of graph g's nodes at hop h
    (``ArchGraph.signatures``).

    A hop-h graph embedding is a function of the architecture's hop-h modules, so this is the reference a
    hop's norm ranking is held to. A target that op and depth barely explain (NAS-Bench-Graph pubmed at
    hop 0: 0.48-0.58 on 300 rows) cannot be ranked at 0.5 by any hop-0 readout, and a norm Spearman of
    0.48 there is the hop's limit, not a collapse. A hop whose modules are each held by one architecture
    reaches 1: there the floor is the plain :data:`COLLAPSE_SPEARMAN`."""
    y = np.asarray(y, dtype=np.float64)
    hops = len(signatures[0]) if len(signatures) else 0
    out = np.ones(hops)
    for h in range(hops):
        codes: dict[str, int] = {}
        arch, module = [], []
        for g, levels in enumerate(signatures):
            for signature in dict.fromkeys(levels[h]):
                arch.append(g)
                module.append(codes.setdefault(signature, len(codes)))
        arch_ids, module_ids = np.asarray(arch, dtype=np.int64), np.asarray(module, dtype=np.int64)
        module_mean = np.bincount(module_ids, weights=y[arch_ids]) / np.bincount(module_ids)
        readout = np.bincount(arch_ids, weights=module_mean[module_ids], minlength=len(y)) \
            / np.maximum(np.bincount(arch_ids, minlength=len(y)), 1)
        rho = metrics.spearman(readout, y)
        out[h] = float(rho) if np.isfinite(rho) else 0.0
    return out


def collapsed_hops(member_spearman: np.ndarray) -> np.ndarray:
    """used [K, L+1] from the members' train-split hop-norm Spearman [K, L+1]: a member is left out of a
    hop where its Spearman is below :data:`COLLAPSE_SPEARMAN` (or undefined) while another member's
    reaches it, since averaging it in would dilute the others' ranking; where none reaches it, all are
    kept (whether the hop has collapsed is :func:`collapsed`'s question)."""
    rho = np.nan_to_num(np.asarray(member_spearman, dtype=np.float64), nan=-1.0)
    used = (rho >= COLLAPSE_SPEARMAN).astype(np.float64)
    none_left = used.sum(0) == 0
    used[:, none_left] = 1.0
    return used


def collapsed(member_spearman: np.ndarray, ceilings: np.ndarray | None = None) -> list[int]:
    """The hops at which every member's train-split hop-norm Spearman [K, L+1] is below the hop's floor
    (:func:`collapse_floor`) or undefined: where the norms have stopped saying anything, as opposed to a hop
    that ranks as well as its modules allow."""
    rho = np.nan_to_num(np.asarray(member_spearman, dtype=np.float64), nan=-1.0)
    floor = collapse_floor(rho.shape[1], ceilings)
    return [h for h in range(rho.shape[1]) if (rho[:, h] < floor[h]).all()]


def collapse_floor(hops: int, ceilings: np.ndarray | None = None) -> np.ndarray:
    """[hops] the Spearman below which a member's hop has collapsed: :data:`COLLAPSE_SPEARMAN` of each
    hop's ceiling (clipped to [0, 1]; ceilings of 1, so the plain threshold, when none is given)."""
    top = np.ones(hops) if ceilings is None else np.clip(np.asarray(ceilings, dtype=np.float64), 0.0, 1.0)
    return COLLAPSE_SPEARMAN * top


def tied_head(predictions: np.ndarray) -> bool:
    """Whether one member's predictions [G] are tied on most rows (its head predicts one value for most
    architectures): fewer than :data:`DISTINCT_PREDICTIONS` of them distinct at 6 significant digits."""
    values = np.asarray(predictions, dtype=np.float64)
    if values.size < 4:
        return False
    distinct = np.unique(np.round(values / (np.abs(values).max() + 1e-12), 6)).size
    return distinct < DISTINCT_PREDICTIONS * values.size
