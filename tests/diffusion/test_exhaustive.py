"""The exhaustive-search baseline: streams a space through a predict callable and keeps the top N."""
import itertools

import numpy as np
import pytest

from core.diffusion.exhaustive import exhaustive_top
from core.errors import InputError
from core.spaces import get_space
from core.spaces.sd_unet import FULL_SPEC


def removed_count(specs):
    return np.array([s.count("-") for s in specs], dtype=float)


@pytest.mark.slow
def test_scores_every_architecture_of_the_space():
    calls = []
    top = exhaustive_top(removed_count, n=4, batch_size=100_000,
                         progress=lambda done, total: calls.append((done, total)))
    assert top.attrs["scored"] == get_space("sd-unet").size() == 884_736
    assert calls[-1] == (884_736, 884_736)
    # 5 optional R + 16 A blocks, but an A goes with its R in down0-2: at most 5 + 16 = 21 removals.
    assert list(top["predicted"]) == [21.0] * 1 + [20.0] * 3
    assert list(top["rank"]) == [1, 2, 3, 4]


def test_matches_brute_force_on_a_subset_and_minimises():
    rng = np.random.default_rng(0)
    specs = list(itertools.islice(get_space("sd-unet").enumerate(), 5000))
    values = dict(zip(specs, rng.normal(size=len(specs))))
    predict = lambda batch: np.array([values[s] for s in batch])  # noqa: E731
    for maximize in (True, False):
        top = exhaustive_top(predict, n=5, specs=iter(specs), maximize=maximize, batch_size=333)
        expected = sorted(specs, key=lambda s: -values[s] if maximize else values[s])[:5]
        assert list(top["arch"]) == expected
        assert np.allclose(top["predicted"], [values[s] for s in expected])


def test_exclude_and_bad_input():
    specs = list(itertools.islice(get_space("sd-unet").enumerate(), 10))
    top = exhaustive_top(removed_count, n=3, specs=specs, maximize=False, exclude={FULL_SPEC})
    assert FULL_SPEC not in set(top["arch"]) and top.attrs["scored"] == 9
    with pytest.raises(InputError):
        exhaustive_top(removed_count, n=0)
    with pytest.raises(ValueError, match="returned 1 scores for 10 specs"):
        exhaustive_top(lambda batch: np.zeros(1), specs=specs)
