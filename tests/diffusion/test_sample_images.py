import pytest
"""Real photographs from PyPI packages and deterministic masks."""
import numpy as np

from core.diffusion.sample_images import (
    PHOTOS,
    available_photos,
    make_mask,
    sample_set,
    write_sample_set,
)


def test_photographs_ship_with_installed_packages():
    names = [p.name for p in available_photos()]
    assert names == [p.name for p in PHOTOS]  # scikit-image and scikit-learn are installed
    assert len(names) == 8


@pytest.mark.slow
def test_crops_are_deterministic_and_square():
    a = sample_set(size=64, crops_per_photo=2, seed=3)
    b = sample_set(size=64, crops_per_photo=2, seed=3)
    assert [n for n, _, _ in a] == [n for n, _, _ in b] and len(a) == 16
    for (_, x, _), (_, y, _) in zip(a, b):
        assert x.size == (64, 64) and x.mode == "RGB"
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a[0][1]), np.asarray(a[1][1]))  # centre crop vs random crop


def test_masks_are_deterministic_binary_and_partial():
    for name in ("chelsea_0", "rocket_1", "x"):
        m = np.asarray(make_mask(name, 128, seed=0))
        assert set(np.unique(m)) <= {0, 255}
        assert 0.15 <= (m > 0).mean() <= 0.45
        assert np.array_equal(m, np.asarray(make_mask(name, 128, seed=0)))
    assert not np.array_equal(np.asarray(make_mask("a", 128)), np.asarray(make_mask("b", 128)))


def test_write_sample_set(tmp_path):
    out = write_sample_set(tmp_path / "s", size=64)
    originals = sorted(p.name for p in (out / "originals").iterdir())
    assert originals == sorted(p.name for p in (out / "masks").iterdir())
    assert len(originals) == 8
    assert "CC0" in (out / "SOURCES.txt").read_text()
