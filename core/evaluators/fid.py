"""FID evaluation of ``sd-unet`` architectures: inpaint a fixed image set with each U-Net variant and
measure the FID of its outputs, the paper's metric for Stable Diffusion (docs/design.md, "The loop").

One evaluation = one architecture: the local diffusers inpainting pipeline (loaded once per process,
never downloaded) runs with that architecture on every image of ``images`` with its mask from
``masks``, with the same per-image noise, prompts, steps and guidance for every architecture
(:func:`core.diffusion.pipeline.run_inpainting`), and the offline Inception FID
(:mod:`core.diffusion.fid`) compares the outputs with the reference images.

Outputs land in ``out`` in the layout of ``python -m core inpaint`` (``out/<arch name>/<stem>.png``,
``arch.json``, plus ``fid.json`` with the protocol, ``out/_inputs/`` and ``out/manifest.csv``), so the
inpainting page shows them. Each evaluation inpaints into a private hidden folder first and moves its
results into place under a file lock: parallel workers sharing ``out`` never see each other's
half-written files. (On a Ray cluster ``out`` is a path on each node: use a shared file system to
gather every output in one place.)

FID from a few images is biased upward and only comparable between numbers computed with the same
protocol (image count, size, steps, guidance, seed, reference); :meth:`FIDEvaluator.describe` states it.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from core.errors import InputError
from core.evaluators.base import ArchEvaluator, EvaluationError
from core.spaces import get_space

SPACE = "sd-unet"
DTYPES = ("float16", "bfloat16", "float32")
LOCK_FILE = ".fid-evaluator.lock"


@functools.lru_cache(maxsize=1)
def _pipeline(model_dir: str, device: str, dtype: str | None):
    """The loaded inpainting pipeline, once per process (one at a time: an SD pipeline fills a GPU)."""
    from diffusers.utils import logging as diffusers_logging

    from core.diffusion.pipeline import load_pipeline

    diffusers_logging.disable_progress_bar()  # workers' logs stay readable
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    return load_pipeline(model_dir, device, dtype)


@functools.lru_cache(maxsize=2)
def _inputs(images: str, masks: str, size: int, prompts: str | None, signature: tuple) -> tuple:
    """The inputs at the run size, once per process while the files (``signature``) are unchanged."""
    from core.diffusion.inpaint_inputs import load_inputs, read_prompts

    return tuple(load_inputs(images, masks, size, read_prompts(prompts)))


def _signature(*paths: str | None) -> tuple:
    """Names, sizes and modification times of the files of folders (or of single files): cheap to read,
    and it changes when an input changes, so cached inputs are never stale."""
    out = []
    for path in paths:
        if path is None:
            continue
        p = Path(path)
        files = sorted(p.iterdir()) if p.is_dir() else [p]
        for f in files:
            stat = f.stat()
            out.append((str(f), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` between processes of this machine (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: no POSIX locks; parallel workers may then race on manifest.csv
        yield
        return
    with open(folder / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class FIDEvaluator(ArchEvaluator):
    """Inpainting FID of ``sd-unet`` architectures (lower is better).

    model_dir: local diffusers Stable Diffusion inpainting pipeline folder; images, masks: folders with
    the images to inpaint and their masks (same stems, white = repaint); reference: folder of reference
    images (None: the images themselves, centre-cropped and resized to the run size as the pipeline sees
    them); out: output folder, one subfolder per architecture (``default_name(spec)``); steps, size, seed,
    guidance: the inpainting protocol; device: torch device (None: cuda if available); dtype:
    float16/bfloat16/float32 (None: float16 on cuda); prompts: optional CSV with image,prompt columns;
    cache_dir: Inception feature cache (None: ``$AUTOBUILD_FID_CACHE`` or ~/.cache/autobuild-studio/fid).
    Every option is JSON-able, so :func:`core.evaluators.base.evaluator_from_dict` rebuilds it in workers.
    """

    name = "fid"

    def __init__(self, model_dir: str, images: str, masks: str, out: str, reference: str | None = None,
                 steps: int = 50, size: int | None = None, seed: int = 0, guidance: float = 7.5,
                 device: str | None = None, dtype: str | None = None, prompts: str | None = None,
                 cache_dir: str | None = None) -> None:
        from core.diffusion.pipeline import check_model_dir, native_size

        # Absolute paths: a Ray worker runs in another working directory.
        self.model_dir = str(check_model_dir(_folder_path(model_dir, "model_dir")))
        self.images, self.masks = _folder_path(images, "images"), _folder_path(masks, "masks")
        self.out = _folder_path(out, "out")
        self.reference = None if reference is None else _folder_path(reference, "reference")
        self.prompts = None if prompts is None else _folder_path(prompts, "prompts")
        self.cache_dir = None if cache_dir is None else _folder_path(cache_dir, "cache_dir")
        self.steps = _integer(steps, "steps", 1)
        self.seed = _integer(seed, "seed", 0)
        # None: the model's native size, as a diffusers pipeline defaults (512 for SD v1.x).
        self.size = _integer(native_size(self.model_dir) if size is None else size, "size", 64)
        if self.size % 64:
            raise InputError(f"fid evaluator: size {size} must be a positive multiple of 64")
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not math.isfinite(guidance) \
                or guidance < 0:
            raise InputError(f"fid evaluator: guidance must be a finite number >= 0, not {guidance!r}")
        self.guidance = float(guidance)
        if dtype is not None and dtype not in DTYPES:
            raise InputError(f"fid evaluator: dtype {dtype!r} must be one of {list(DTYPES)} or None")
        self.dtype = dtype
        if device is not None:
            _check_device(device)
        self.device = device
        if Path(self.out).exists() and not Path(self.out).is_dir():
            raise InputError(f"fid evaluator: out {self.out} is a file, not a folder")
        self._check_inputs()

    def _check_inputs(self) -> None:
        """The input folders, checked cheaply (names only): the images are read once per process when evaluating."""
        from core.diffusion.inception import IMAGE_SUFFIXES, list_images
        from core.diffusion.inpaint_inputs import read_prompts

        for label, folder in (("images", self.images), ("masks", self.masks), ("reference", self.reference)):
            if folder is not None and not Path(folder).is_dir():
                raise InputError(f"fid evaluator: {label} folder {folder} does not exist")
        stems = [p.stem for p in list_images(self.images)]
        masks = {p.stem for p in Path(self.masks).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        unmasked = [s for s in stems if s not in masks]
        if unmasked:
            raise InputError(f"image {unmasked[0]!r} has no mask of the same name in {self.masks}")
        unknown = sorted(set(read_prompts(self.prompts)) - set(stems))
        if unknown:
            raise InputError(f"prompts file {self.prompts} names image {unknown[0]!r}, which is not in {self.images}")
        self.n_images = len(stems)
        self.n_reference = len(list_images(self.reference)) if self.reference else self.n_images
        if min(self.n_images, self.n_reference) < 2:
            raise InputError(f"fid evaluator: FID needs at least 2 images; {self.images} has {self.n_images}"
                             + (f", {self.reference} has {self.n_reference}" if self.reference else ""))

    @property
    def space_name(self) -> str:
        return SPACE

    def metrics(self) -> tuple[str, ...]:
        return ("fid",)

    def evaluate_one(self, spec: str) -> dict[str, float]:
        try:
            canonical = get_space(SPACE).canonical(spec)
        except InputError as err:
            raise EvaluationError(first_line(err)) from None
        from core.diffusion.run_architectures import default_name

        name = default_name(canonical)
        try:
            return {"fid": self._inpaint_and_measure(canonical, name)}
        except EvaluationError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure is this architecture's one-line error
            raise EvaluationError(f"{name}: {first_line(err)}") from err

    def _inpaint_and_measure(self, spec: str, name: str) -> float:
        """Inpaint into a private folder, measure FID there, then move the results into ``out``."""
        from core.diffusion.fid import (
            FIDResult,
            frechet_distance,
            image_set_features,
            write_fid_record,
        )
        from core.diffusion.pipeline import INPUTS_DIR, run_inpainting
        from core.diffusion.run_architectures import Architecture

        device = self.device or _default_device()
        pipe = _pipeline(self.model_dir, device, self.dtype)
        inputs = _inputs(self.images, self.masks, self.size, self.prompts,
                         _signature(self.images, self.masks, self.prompts))
        out = Path(self.out)
        out.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out))  # hidden: the inpainting page skips it
        try:
            manifest = run_inpainting(pipe, [Architecture(name, spec)], inputs, work, steps=self.steps,
                                      seed=self.seed, guidance_scale=self.guidance, model_dir=self.model_dir)
            generated = image_set_features(work / name, self.cache_dir)
            reference_dir = self.reference or work / INPUTS_DIR / "originals"  # same files as out/_inputs
            reference = image_set_features(reference_dir, self.cache_dir)
            value = frechet_distance(generated.features, reference.features)
            if not math.isfinite(value):
                raise EvaluationError(f"{name}: FID is {value} (non-finite features: the outputs may be NaN)")
            final_reference = self.reference or str(out / INPUTS_DIR / "originals")
            write_fid_record(FIDResult(value, str(out / name), final_reference, len(generated.names),
                                       len(reference.names), sorted(set(generated.sizes)),
                                       sorted(set(reference.sizes))), work / name / "fid.json")
            with _locked(out):
                self._publish(work, out, name, manifest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return value

    @staticmethod
    def _publish(work: Path, out: Path, name: str, manifest) -> None:
        """Move one architecture's results from ``work`` into ``out`` (caller holds the lock)."""
        import pandas as pd

        from core.diffusion.pipeline import INPUTS_DIR

        for sub in ("originals", "masks"):
            (out / INPUTS_DIR / sub).mkdir(parents=True, exist_ok=True)
            for file in (work / INPUTS_DIR / sub).iterdir():
                os.replace(file, out / INPUTS_DIR / sub / file.name)
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(work / name, target)
        manifest_path = out / "manifest.csv"
        if manifest_path.is_file():
            old = pd.read_csv(manifest_path, dtype={"set": str}, keep_default_na=False)
            manifest = pd.concat([old[old["name"].astype(str) != name], manifest], ignore_index=True)
        partial = manifest_path.with_suffix(".csv.tmp")
        manifest.to_csv(partial, index=False)
        os.replace(partial, manifest_path)

    def task_resources(self) -> dict[str, float]:
        device = self.device or _default_device()
        if device.startswith("cuda"):
            return {"num_cpus": 1, "num_gpus": 1}
        return {"num_cpus": 1}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model_dir": self.model_dir, "images": self.images, "masks": self.masks,
                "out": self.out, "reference": self.reference, "steps": self.steps, "size": self.size,
                "seed": self.seed, "guidance": self.guidance, "device": self.device, "dtype": self.dtype,
                "prompts": self.prompts, "cache_dir": self.cache_dir}

    def describe(self) -> str:
        reference = (f"{self.n_reference} reference images in {self.reference}" if self.reference
                     else "the input images")
        return (f"inpainting FID of {Path(self.model_dir).name}: {self.n_images} images at {self.size}x{self.size}, "
                f"{self.steps} steps, guidance {self.guidance:g}, seed {self.seed}, against {reference} "
                f"(small-n FID is biased: compare only at this protocol)")


__all__ = ["FIDEvaluator"]


def _folder_path(path: Any, label: str) -> str:
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"fid evaluator: {label} must be a folder path, not {path!r}")
    return str(Path(path).expanduser().resolve())


def _integer(value: Any, label: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"fid evaluator: {label} must be an integer >= {low}, not {value!r}")
    return value


def _check_device(device: str) -> None:
    import torch

    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"fid evaluator: {device!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
