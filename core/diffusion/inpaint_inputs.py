"""The images of an inpainting run: originals and masks cropped square at the run size, prompts, and
each image's noise seed (the same for every architecture)."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from core.diffusion.images import open_image
from core.diffusion.inception import IMAGE_SUFFIXES
from core.errors import InputError


@dataclass(frozen=True)
class InpaintInput:
    """One image to inpaint, at the run size."""

    stem: str
    image: Image.Image
    mask: Image.Image
    prompt: str


def image_seed(seed: int, stem: str) -> int:
    """The noise seed of one image: fixed by the run seed and the image name, shared by every architecture."""
    return (seed * 1_000_003 + zlib.crc32(stem.encode())) % (2**31 - 1)



def fit_square(img: Image.Image, size: int, mask: bool = False) -> Image.Image:
    """Centre-crop to a square and resize to ``size``: LANCZOS for images, NEAREST + threshold for masks."""
    w, h = img.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    if mask:
        square = img.convert("L").crop(box).resize((size, size), Image.Resampling.NEAREST)
        return square.point(lambda v: 255 if v > 127 else 0)
    return img.convert("RGB").crop(box).resize((size, size), Image.Resampling.LANCZOS)


def read_prompts(path: str | Path | None) -> dict[str, str]:
    """Image stem -> prompt from a CSV with ``image`` and ``prompt`` columns (``image``: file name or stem)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise InputError(f"prompts file {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read prompts file {path}: {str(err).splitlines()[0]}") from None
    if not {"image", "prompt"} <= set(frame.columns):
        raise InputError(f"prompts file {path} needs columns 'image' and 'prompt', has {list(frame.columns)}")
    return {Path(image).stem: prompt for image, prompt in zip(frame["image"], frame["prompt"])}


def load_inputs(images_dir: str | Path, masks_dir: str | Path, size: int = 512,
                prompts: dict[str, str] | None = None) -> list[InpaintInput]:
    """Every image of ``images_dir`` with the mask of the same stem in ``masks_dir``, at ``size``."""
    if size < 64 or size % 64:
        raise InputError(f"--size {size} must be a positive multiple of 64 (VAE /8, then three U-Net /2 steps)")
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for label, folder in (("images", images_dir), ("masks", masks_dir)):
        if not folder.is_dir():
            raise InputError(f"{label} folder {folder} does not exist")
    masks = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images_dir}")
    prompts = prompts or {}
    unknown = sorted(set(prompts) - {p.stem for p in files})
    if unknown:
        raise InputError(f"prompts name image {unknown[0]!r}, which is not in {images_dir}")
    inputs = []
    for path in files:
        if path.stem not in masks:
            raise InputError(f"image {path.name} has no mask {path.stem}.png (or .jpg, ...) in {masks_dir}")
        img, mask = open_image(path, "RGB"), open_image(masks[path.stem], "L")  # pixel-limited, one-line errors
        inputs.append(InpaintInput(path.stem, fit_square(img, size), fit_square(mask, size, mask=True),
                                   prompts.get(path.stem, "")))
    return inputs
