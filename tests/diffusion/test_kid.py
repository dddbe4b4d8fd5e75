"""KID (core.diffusion.kid): the unbiased estimator against a direct sum, its spread, and its guards."""
import numpy as np
import pytest

from core.diffusion.kid import kernel_inception_distance
from core.errors import InputError


def _direct_mmd2(x, y):
    def k(a, b):
        return (a @ b / x.shape[1] + 1.0) ** 3

    s = len(x)
    xx = sum(k(x[i], x[j]) for i in range(s) for j in range(s) if i != j) / (s * (s - 1))
    yy = sum(k(y[i], y[j]) for i in range(s) for j in range(s) if i != j) / (s * (s - 1))
    xy = sum(k(x[i], y[j]) for i in range(s) for j in range(s)) / s**2
    return xx + yy - 2 * xy


def test_one_subset_of_everything_is_the_direct_unbiased_sum():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5)), rng.normal(1.0, 1.0, size=(6, 5))
    kid = kernel_inception_distance(x, y, subsets=1, subset_size=6)
    assert kid.mean == pytest.approx(_direct_mmd2(x, y)) and kid.std == 0.0


def test_same_distribution_is_near_zero_and_a_shift_is_not():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(200, 16))
    same = kernel_inception_distance(rng.normal(size=(200, 16)), ref, subsets=50)
    shifted = kernel_inception_distance(rng.normal(0.5, 1.0, size=(200, 16)), ref, subsets=50)
    assert abs(same.mean) < 2 * same.std + 1e-3  # unbiased: centred on zero within its spread
    assert shifted.mean > same.mean + 5 * shifted.std and shifted.std > 0
    assert same.subset_size == 100 and same.subsets == 50


def test_bad_shapes_and_sizes_are_one_line_errors():
    with pytest.raises(InputError, match="same width"):
        kernel_inception_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(InputError, match="subsets of 2 to 3"):
        kernel_inception_distance(np.zeros((3, 2)), np.zeros((8, 2)))
