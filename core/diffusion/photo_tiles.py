"""Training and evaluation tiles cut from the real photographs that ship in PyPI packages.

The photographs are :data:`core.diffusion.sample_images.PHOTOS` (scikit-image and scikit-learn; credits and
licences listed there). Each photograph is split by columns: the left ``1 - EVAL_FRACTION`` of its width
gives training tiles, the right ``EVAL_FRACTION`` evaluation tiles, so no evaluation pixel is ever trained on.

Training tiles: a random square of 1/8 to 1/2 of the photo's shorter side, resized to ``size`` (antialiased),
flipped horizontally half the time. Tensors are [N, 3, S, S] in [-1, 1]; masks [N, 1, S, S] with 1 = repaint.
"""
from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from core.diffusion.sample_images import available_photos, load_photo, make_mask
from core.errors import InputError

EVAL_FRACTION = 0.25


def _split(img: Image.Image) -> tuple[Image.Image, Image.Image]:
    w, h = img.size
    cut = int(round(w * (1 - EVAL_FRACTION)))
    return img.crop((0, 0, cut, h)), img.crop((cut, 0, w, h))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB image -> [3, H, W] float32 in [-1, 1]."""
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)


def to_image(x: torch.Tensor) -> Image.Image:
    """[3, H, W] in [-1, 1] -> RGB image."""
    pixels = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(pixels)


@lru_cache(maxsize=2)  # decoding the photographs takes seconds; crops never modify them
def _photos(part: int) -> list[tuple[str, Image.Image, str]]:
    photos = available_photos()
    if not photos:
        raise InputError("no bundled photographs found; pip install scikit-image==0.26.0 (or scikit-learn)")
    return [(p.name, _split(load_photo(p))[part], p.credit) for p in photos]


class TileSampler:
    """Random training tiles [B, 3, S, S] from the training part of every photograph (seeded).

    ``bank`` tiles are cut once (PIL crops and antialiased resizing cost milliseconds per tile, far more than
    a training step of the small model on a GPU); each batch then draws tiles from the bank at random and
    flips each horizontally with probability 1/2. ``bank=0`` cuts fresh tiles for every batch.
    """

    def __init__(self, size: int, seed: int = 0, bank: int = 0) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.photos = [img for _, img, _ in _photos(0)]
        self.bank = torch.stack([self._tile() for _ in range(bank)]) if bank else None

    def _tile(self) -> torch.Tensor:
        img = self.photos[int(self.rng.integers(len(self.photos)))]
        w, h = img.size
        side = int(min(w, h) * self.rng.uniform(0.125, 0.5))
        left, top = int(self.rng.integers(0, w - side + 1)), int(self.rng.integers(0, h - side + 1))
        tile = img.crop((left, top, left + side, top + side)).resize((self.size, self.size), Image.Resampling.LANCZOS)
        return to_tensor(tile)

    def batch(self, n: int) -> torch.Tensor:
        if self.bank is None:
            tiles = torch.stack([self._tile() for _ in range(n)])
        else:
            tiles = self.bank[torch.from_numpy(self.rng.integers(0, len(self.bank), n))]
        flip = torch.from_numpy(self.rng.random(n) < 0.5)
        tiles[flip] = tiles[flip].flip(-1)
        return tiles


def random_masks(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """[n, 1, S, S] masks of one rectangle each, 1/4 to 3/4 of the side in width and height (1 = repaint)."""
    masks = torch.zeros(n, 1, size, size)
    lo, hi = max(1, size // 4), max(2, (3 * size) // 4)
    for i in range(n):
        bw, bh = (int(v) for v in torch.randint(lo, hi + 1, (2,), generator=generator))
        x = int(torch.randint(0, size - bw + 1, (1,), generator=generator))
        y = int(torch.randint(0, size - bh + 1, (1,), generator=generator))
        masks[i, 0, y:y + bh, x:x + bw] = 1.0
    return masks


def evaluation_set(size: int, per_photo: int, seed: int = 0) -> list[tuple[str, Image.Image, Image.Image, str]]:
    """``(name, tile, mask, credit)``: ``per_photo`` tiles from the held-out part of each photograph, with
    the deterministic masks of :func:`core.diffusion.sample_images.make_mask` (white = repaint)."""
    if per_photo < 1:
        raise InputError(f"need at least one evaluation tile per photograph, not {per_photo}")
    out = []
    for name, img, credit in _photos(1):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        w, h = img.size
        for k in range(per_photo):
            side = int(min(w, h) * rng.uniform(0.5, 1.0))
            left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            tile = img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
            stem = f"{name}_{k}"
            out.append((stem, tile, make_mask(stem, size, seed), credit))
    return out
