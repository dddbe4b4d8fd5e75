"""Kernel Inception Distance (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018), with its spread.

FID is biased at small sample sizes (its value depends on n), so two FIDs over a few hundred images can be
ranked but not read against noise. KID is the squared maximum mean discrepancy between two sets of Inception
features x [n, d] and y [m, d] under the cubic polynomial kernel

    k(a, b) = (a . b / d + 1) ** 3

estimated without bias on subsets of s images from each set:

    KID = 1/(s(s-1)) sum_{i != j} k(x_i, x_j) + 1/(s(s-1)) sum_{i != j} k(y_i, y_j) - 2/s^2 sum_{i, j} k(x_i, y_j)

The value reported is the mean over ``subsets`` random subsets, the spread their standard deviation. Subsets
hold half the smaller set (at most 1000 images), not all of it: with every image in every subset all
estimates would be equal and the spread zero, whatever the sample noise (docs/design.md, section 2, item 9).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import InputError


@dataclass(frozen=True)
class KID:
    """KID mean over subsets, its standard deviation, and the subset size and count it came from."""

    mean: float
    std: float
    subset_size: int
    subsets: int


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    s = len(x)
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (s * (s - 1))
    return float(within - 2.0 * kxy.mean())


def kernel_inception_distance(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int | None = None,
                              seed: int = 0) -> KID:
    """KID between feature sets ``x`` [n, d] and ``y`` [m, d] (n, m >= 4), mean and std over ``subsets``
    random subsets of ``subset_size`` images from each (default: half the smaller set, at most 1000)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InputError(f"KID needs two feature matrices of the same width, got {x.shape} and {y.shape}")
    smaller = min(len(x), len(y))
    size = min(1000, smaller // 2) if subset_size is None else subset_size
    if size < 2 or size > smaller or subsets < 1:
        raise InputError(f"KID needs subsets of 2 to {smaller} images and at least one subset "
                         f"(sets of {len(x)} and {len(y)}, subset size {size}, subsets {subsets})")
    rng = np.random.default_rng(seed)
    values = np.array([_mmd2_unbiased(x[rng.choice(len(x), size, replace=False)],
                                      y[rng.choice(len(y), size, replace=False)]) for _ in range(subsets)])
    return KID(float(values.mean()), float(values.std(ddof=1)) if subsets > 1 else 0.0, size, subsets)
