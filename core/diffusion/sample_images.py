"""Real photographs that ship inside PyPI packages, plus deterministic inpainting masks.

No image may be downloaded at run time, and no wheel ships an inpainting benchmark, so the FID and gallery
paths run on the colour photographs bundled with scikit-image (``skimage/data``) and scikit-learn
(``sklearn/datasets/images``). Files are read directly from the installed package folders (found with
``importlib.util.find_spec``, without importing either package). Each photograph gives one or more
deterministic square crops, so a sample set is reproducible from ``(size, crops_per_photo, seed)``.

Masks follow the diffusers inpainting convention: a single-channel image, white (255) = repaint,
black (0) = keep. Each mask is 1 to 3 axis-aligned rectangles drawn from a generator seeded by the seed and
the image name, covering between 15 % and 45 % of the image.
"""
from __future__ import annotations

import importlib.util
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import InputError


@dataclass(frozen=True)
class Photo:
    """One bundled photograph: where it lives and whom to credit."""

    name: str
    package: str
    path: str  # relative to the package folder
    credit: str


PHOTOS: tuple[Photo, ...] = (
    Photo("astronaut", "skimage", "data/astronaut.png", "Eileen Collins, NASA; public domain (scikit-image)"),
    Photo("chelsea", "skimage", "data/chelsea.png", "Chelsea the cat, Stefan van der Walt; CC0 (scikit-image)"),
    Photo("coffee", "skimage", "data/coffee.png", "Coffee cup, Rachel Michetti; CC0 (scikit-image)"),
    Photo("rocket", "skimage", "data/rocket.jpg", "DSCOVR launch on Falcon 9, SpaceX; public domain (scikit-image)"),
    Photo("hubble", "skimage", "data/hubble_deep_field.jpg", "Hubble eXtreme Deep Field, NASA; public domain "
                                                              "use (scikit-image)"),
    Photo("retina", "skimage", "data/retina.jpg", "Fundus photograph, Wikimedia Commons; CC0 (scikit-image)"),
    Photo("china", "sklearn", "datasets/images/china.jpg", "danielbuechele on Flickr; CC BY 2.0 (scikit-learn)"),
    Photo("flower", "sklearn", "datasets/images/flower.jpg", "vultilion on Flickr; CC BY 2.0 (scikit-learn)"),
)
#: The pip requirement that provides each package's photographs.
PACKAGE_REQUIREMENT = {"skimage": "scikit-image==0.26.0", "sklearn": "scikit-learn"}


def photo_path(photo: Photo) -> Path:
    """The file of a bundled photograph; a one-line error names the package to install when it is missing."""
    spec = importlib.util.find_spec(photo.package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"photograph {photo.name!r} ships with {photo.package}, which is not installed "
                         f"(pip install {PACKAGE_REQUIREMENT[photo.package]})")
    path = Path(spec.submodule_search_locations[0]) / photo.path
    if not path.is_file():
        raise InputError(f"photograph {photo.name!r} is missing from the installed {photo.package}: {path}")
    return path


def available_photos() -> list[Photo]:
    """The bundled photographs whose package is installed."""
    found = []
    for photo in PHOTOS:
        try:
            photo_path(photo)
        except InputError:
            continue
        found.append(photo)
    return found


def load_photo(photo: Photo) -> Image.Image:
    with Image.open(photo_path(photo)) as img:
        return img.convert("RGB")


def square_crop(img: Image.Image, size: int, rng: np.random.Generator | None = None) -> Image.Image:
    """A ``size`` x ``size`` RGB crop: centred and maximal without ``rng``, else random in position and scale."""
    w, h = img.size
    side = min(w, h)
    if rng is None:
        left, top = (w - side) // 2, (h - side) // 2
    else:
        side = int(side * rng.uniform(0.6, 1.0))
        left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def make_mask(name: str, size: int, seed: int = 0) -> Image.Image:
    """A deterministic mask (mode ``L``, 255 = repaint) for the image called ``name``: 1-3 rectangles."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    for _ in range(100):
        mask = np.zeros((size, size), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            bw, bh = (int(size * rng.uniform(0.2, 0.5)) for _ in range(2))
            x, y = int(rng.integers(0, size - bw + 1)), int(rng.integers(0, size - bh + 1))
            mask[y:y + bh, x:x + bw] = 255
        if 0.15 <= (mask > 0).mean() <= 0.45:
            break
    return Image.fromarray(mask, mode="L")


def sample_set(size: int = 512, crops_per_photo: int = 1, seed: int = 0) -> list[tuple[str, Image.Image, str]]:
    """``(name, image, credit)`` per crop: crop 0 is the centre crop, further crops are random (seeded)."""
    if size < 8 or crops_per_photo < 1:
        raise InputError(f"sample images need size >= 8 and crops_per_photo >= 1, not {size} and {crops_per_photo}")
    photos = available_photos()
    if not photos:
        raise InputError("no bundled photographs found; pip install scikit-image==0.26.0 (or scikit-learn)")
    out = []
    for photo in photos:
        img = load_photo(photo)
        rng = np.random.default_rng([seed, zlib.crc32(photo.name.encode())])
        for k in range(crops_per_photo):
            out.append((f"{photo.name}_{k}", square_crop(img, size, None if k == 0 else rng), photo.credit))
    return out


def write_sample_set(out_dir: str | Path, size: int = 512, crops_per_photo: int = 1, seed: int = 0) -> Path:
    """Write ``originals/<name>.png``, ``masks/<name>.png`` and ``SOURCES.txt`` (credits) under ``out_dir``."""
    out = Path(out_dir)
    for path in (out, out / "originals", out / "masks", *out.parents):
        if path.exists() and not path.is_dir():
            raise InputError(f"cannot write the sample set to {out}: {path} is a file, not a folder")
    (out / "originals").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    credits = []
    for name, img, credit in sample_set(size, crops_per_photo, seed):
        img.save(out / "originals" / f"{name}.png")
        make_mask(name, size, seed).save(out / "masks" / f"{name}.png")
        credits.append(f"{name}.png: {credit}")
    (out / "SOURCES.txt").write_text(
        f"Real photographs bundled with PyPI packages, {size}x{size} crops (seed {seed}); masks: white = repaint.\n"
        + "\n".join(credits) + "\n")
    return out
