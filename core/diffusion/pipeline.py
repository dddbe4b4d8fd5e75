"""Inpainting runs of ``sd-unet`` architectures with a local diffusers ``StableDiffusionInpaintPipeline``.

The paper evaluates each SD v1.4 U-Net variant by the FID of its inpainted images. Here a run loads the
pipeline once from a local model directory (``local_files_only=True``: nothing is ever downloaded), applies
each architecture to its U-Net (:func:`core.diffusion.unet_arch.apply_architecture`; the loaded pipeline is
never modified, each architecture gets a pipeline object sharing its components), and inpaints every image.

Fair comparison: every architecture sees the same images, masks, prompts, steps and guidance, and image
``stem`` always starts from the same noise: its generator is seeded with ``image_seed(seed, stem)`` (depends
on the run seed and the image name only, not on the architecture or on which other images are in the run).

Output layout (the inpainting page pairs images by file name across architecture folders)::

    OUT/_inputs/originals/<stem>.png   the inputs at the run size (the FID reference)
    OUT/_inputs/masks/<stem>.png       the masks at the run size (255 = repaint)
    OUT/<arch name>/<stem>.png         one inpainted image per image and architecture
    OUT/<arch name>/arch.json          spec, set, parameters, removed blocks, run settings
    OUT/manifest.csv                   one row per generated image
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
from PIL import Image

from core.diffusion.fid import IMAGE_SUFFIXES
from core.diffusion.unet_arch import apply_architecture
from core.diffusion.images import open_image
from core.errors import Cancelled, InputError
from core.json_input import load_json_object
from core.spaces import get_space
from core.spaces.sd_unet import FULL_SPEC, SPACE

INPAINT_IN_CHANNELS = 9  # 4 noisy latents + 1 mask + 4 masked-image latents
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
INPUTS_DIR = "_inputs"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Architecture:
    """One architecture to run: a folder-safe name, its canonical spec and an optional set label."""

    name: str
    spec: str
    set: str = ""


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


def default_name(spec: str) -> str:
    """A stable folder name for an architecture: ``full`` or ``arch-`` + 8 hex digits of its canonical spec."""
    if spec == FULL_SPEC:
        return "full"
    return "arch-" + format(zlib.crc32(spec.encode()), "08x")


def architectures_from_table(frame: pd.DataFrame, source: str) -> list[Architecture]:
    """Architectures from a table with an ``arch`` column and optional ``name`` and ``set`` columns."""
    if "arch" not in frame.columns:
        raise InputError(f"{source}: no 'arch' column (columns: {list(frame.columns)})")
    space = get_space(SPACE)
    archs = []
    for row, record in enumerate(frame.to_dict("records"), start=1):
        try:
            spec = space.canonical(str(record["arch"]))
        except InputError as err:
            raise InputError(f"{source} row {row}: {err}") from None
        name = str(record.get("name") or "").strip() or default_name(spec)
        set_label = record.get("set")
        archs.append(Architecture(name, spec, "" if pd.isna(set_label) else str(set_label)))
    return check_names(archs, source)


def check_names(archs: Sequence[Architecture], source: str = "architectures") -> list[Architecture]:
    """Folder-safe, unique names (the same spec twice under one name is dropped, not an error)."""
    seen: dict[str, str] = {}
    out = []
    for arch in archs:
        if not NAME_PATTERN.match(arch.name) or arch.name.startswith("_"):
            raise InputError(f"{source}: architecture name {arch.name!r} must be 1-64 letters, digits, '.', '_' "
                             "or '-', starting with a letter or digit")
        if arch.name in seen:
            if seen[arch.name] != arch.spec:
                raise InputError(f"{source}: name {arch.name!r} is given to two different architectures")
            continue
        seen[arch.name] = arch.spec
        out.append(arch)
    if not out:
        raise InputError(f"{source}: no architectures")
    return out


# ------------------------------------------------------------------------------------------ model
def check_model_dir(model_dir: str | Path, setting: str = "--model-dir") -> Path:
    """Validate a diffusers inpainting pipeline directory; raise a one-line :class:`InputError` otherwise.

    ``setting``: what the user set the directory with, named in the error (a CLI option, a form field)."""
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise InputError(f"model directory {path} does not exist (point {setting} at a local diffusers "
                         "Stable Diffusion inpainting pipeline folder)")
    index = path / "model_index.json"
    if not index.is_file():
        raise InputError(f"{path} has no model_index.json, so it is not a diffusers pipeline directory")
    meta = _json_object(index)
    if "_diffusers_version" not in meta or "_class_name" not in meta:
        raise InputError(f"{index} has no _class_name / _diffusers_version, so {path} is not a diffusers "
                         "pipeline directory")
    missing = [c for c in COMPONENTS if not (path / c).is_dir()]
    if missing:
        raise InputError(f"{path} lacks the pipeline component folder(s) {missing}")
    unet_config = _json_object(path / "unet" / "config.json")
    channels = unet_config.get("in_channels")
    if channels != INPAINT_IN_CHANNELS:
        raise InputError(f"{path} is not an inpainting model: its U-Net takes {channels} input channels, an "
                         f"inpainting U-Net takes {INPAINT_IN_CHANNELS} (latents, mask, masked-image latents)")
    return path


def _json_object(path: Path) -> dict:
    """A small JSON object file (a model directory's config, an output's ``arch.json``); one line when
    unreadable, malformed or not an object."""
    return load_json_object(path, max_bytes=1024**2, what="settings")


def load_pipeline(model_dir: str | Path, device: str | None = None, dtype: str | None = None):
    """The ``StableDiffusionInpaintPipeline`` of a local directory (never downloads), on ``device``.

    ``device`` defaults to CUDA when available, else CPU; ``dtype`` ("float16"/"float32") defaults to float16
    on CUDA and float32 on CPU.
    """
    import torch
    from diffusers import StableDiffusionInpaintPipeline

    path = check_model_dir(model_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or ("float16" if device.startswith("cuda") else "float32")
    if dtype not in ("float16", "float32", "bfloat16"):
        raise InputError(f"dtype {dtype!r} must be float16, bfloat16 or float32")
    try:
        pipe = StableDiffusionInpaintPipeline.from_pretrained(path, local_files_only=True,
                                                              dtype=getattr(torch, dtype))
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"cannot load the inpainting pipeline from {path}: {first}") from None
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pipeline_with_unet(pipe, unet):
    """A pipeline object that shares the weights of ``pipe`` but has ``unet`` and its own scheduler.

    ``pipe`` is never modified (it may be cached and shared between dashboard sessions); the scheduler is
    copied because ``set_timesteps`` keeps per-run state in it.
    """
    components = dict(pipe.components)
    components["unet"] = unet
    components["scheduler"] = type(pipe.scheduler).from_config(pipe.scheduler.config)
    variant = type(pipe)(**components, requires_safety_checker=bool(pipe.config.requires_safety_checker))
    variant.set_progress_bar_config(disable=True)
    return variant


# ----------------------------------------------------------------------------------------- inputs
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


# -------------------------------------------------------------------------------------------- run
def run_inpainting(pipe, archs: Sequence[Architecture], inputs: Sequence[InpaintInput], out_dir: str | Path,
                   steps: int = 50, seed: int = 0, guidance_scale: float = 7.5,
                   progress: Progress | None = None, model_dir: str = "",
                   should_stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Inpaint every input with every architecture; write the output layout above; return this run's rows.

    ``progress(done, total, message)`` is called after every image. ``should_stop()`` is asked between denoising
    steps; when it turns true the call raises :class:`core.errors.Cancelled`, keeping the
    architectures finished so far (in ``manifest.csv``) and nothing of the one in progress: each
    architecture's images are written to a hidden staging folder and moved into place only once all of
    them exist.
    """
    import shutil

    import torch

    if steps < 1:
        raise InputError(f"--steps must be at least 1, not {steps}")
    if not inputs:
        raise InputError("no images to inpaint")
    archs = check_names(archs)
    out = Path(out_dir)
    size = inputs[0].image.width
    for sub in ("originals", "masks"):
        (out / INPUTS_DIR / sub).mkdir(parents=True, exist_ok=True)
    for item in inputs:
        item.image.save(out / INPUTS_DIR / "originals" / f"{item.stem}.png")
        item.mask.save(out / INPUTS_DIR / "masks" / f"{item.stem}.png")
    rows = []
    total, done = len(archs) * len(inputs), 0
    # Asked after every denoising step; raising from the callback ends the pipeline call at once.
    stop_check = {} if should_stop is None else {"callback_on_step_end": _stop_callback(should_stop)}
    try:
        for arch in archs:
            applied = apply_architecture(pipe.unet, arch.spec)
            variant = pipeline_with_unet(pipe, applied.unet)
            folder = out / arch.name
            staging = out / f".partial-{arch.name}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            flagged, arch_rows = 0, []
            for item in inputs:
                if should_stop is not None and should_stop():
                    raise Cancelled("inpainting was cancelled")
                generator = torch.Generator("cpu").manual_seed(image_seed(seed, item.stem))
                with torch.inference_mode():
                    result = variant(prompt=item.prompt, image=item.image, mask_image=item.mask, height=size,
                                     width=size, num_inference_steps=steps, guidance_scale=guidance_scale,
                                     generator=generator, **stop_check)
                nsfw = bool(result.nsfw_content_detected and result.nsfw_content_detected[0])
                flagged += nsfw
                result.images[0].save(staging / f"{item.stem}.png")
                arch_rows.append({"name": arch.name, "set": arch.set, "arch": arch.spec, "image": item.stem,
                                  "prompt": item.prompt, "seed": image_seed(seed, item.stem), "steps": steps,
                                  "guidance_scale": guidance_scale, "size": size, "nsfw_flagged": nsfw,
                                  "file": str((folder / f"{item.stem}.png").relative_to(out))})
                done += 1
                if progress is not None:
                    progress(done, total, f"{arch.name}: {item.stem}")
            folder.mkdir(parents=True, exist_ok=True)
            for item in inputs:
                (staging / f"{item.stem}.png").replace(folder / f"{item.stem}.png")
            staging.rmdir()
            rows += arch_rows
            (folder / "arch.json").write_text(json.dumps({
                "name": arch.name, "set": arch.set, "arch": arch.spec, "params": applied.params,
                "params_full": applied.params_full, "removed": applied.removed, "model_dir": model_dir,
                "steps": steps, "seed": seed, "guidance_scale": guidance_scale, "size": size,
                "images": len(inputs), "nsfw_flagged": flagged,
            }, indent=2) + "\n")
    except Cancelled:
        shutil.rmtree(staging, ignore_errors=True)
        if rows:
            _write_manifest(out, pd.DataFrame(rows))
        raise
    manifest = pd.DataFrame(rows)
    _write_manifest(out, manifest)
    return manifest


def _stop_callback(should_stop: Callable[[], bool]):
    """A diffusers ``callback_on_step_end`` that raises Cancelled once ``should_stop()`` is true."""
    def callback(pipe, step: int, timestep, kwargs: dict) -> dict:
        if should_stop():
            raise Cancelled("inpainting was cancelled")
        return kwargs
    return callback


def _write_manifest(out: Path, manifest: pd.DataFrame) -> None:
    """Write ``manifest.csv``, keeping rows of earlier runs into the same folder except those regenerated now."""
    manifest_path = out / "manifest.csv"
    merged = manifest
    if manifest_path.is_file():
        old = pd.read_csv(manifest_path, dtype={"set": str}, keep_default_na=False)
        old = old[~old.set_index(["name", "image"]).index.isin(manifest.set_index(["name", "image"]).index)]
        merged = pd.concat([old, manifest], ignore_index=True)
    merged.to_csv(manifest_path, index=False)


def read_outputs(out_dir: str | Path) -> pd.DataFrame:
    """The architecture folders of an output folder: one row each, from ``arch.json`` where present.

    Columns: ``name``, ``folder``, ``set``, ``arch``, ``params``, ``params_full``, ``removed``, ``model_dir``,
    ``images``. A subfolder with images but no ``arch.json`` (e.g. outputs made elsewhere) is listed with
    empty metadata; folders starting with ``_`` (the run inputs) are skipped. An ``arch.json`` that is
    malformed, too large or too deep is a one-line :class:`InputError` naming it.
    """
    out = Path(out_dir)
    rows = []
    if out.is_dir():
        for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
            if not images:
                continue
            # A user may have edited it: bounded, and one line naming the file when it is not an object.
            meta = _json_object(folder / "arch.json") if (folder / "arch.json").is_file() else {}
            rows.append({"name": folder.name, "folder": str(folder), "set": str(meta.get("set") or ""),
                         "arch": meta.get("arch", ""), "params": meta.get("params"),
                         "params_full": meta.get("params_full"), "removed": meta.get("removed", []),
                         "model_dir": meta.get("model_dir", ""), "images": len(images)})
    columns = ["name", "folder", "set", "arch", "params", "params_full", "removed", "model_dir", "images"]
    return pd.DataFrame(rows, columns=columns)
