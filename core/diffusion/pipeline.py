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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from core.diffusion.inception import IMAGE_SUFFIXES
from core.diffusion.inpaint_inputs import InpaintInput, image_seed
from core.diffusion.run_architectures import Architecture, check_names
from core.diffusion.unet_arch import apply_architecture
from core.errors import Cancelled, InputError
from core.files.bounded_json import load_json_object

INPAINT_IN_CHANNELS = 9  # 4 noisy latents + 1 mask + 4 masked-image latents
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
INPUTS_DIR = "_inputs"

Progress = Callable[[int, int, str], None]


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


def native_size(model_dir: str | Path) -> int:
    """The square image size a pipeline directory's model was trained at, as diffusers pipelines default
    to it: the U-Net's ``sample_size`` (latent side) x the VAE's scale factor (2 ** (down blocks - 1)).
    512 for SD v1.x, 768 for SD 2.x at 768, 64 for a toy model: working at another size wastes or
    degrades it. One-line :class:`InputError` when the configs do not say."""
    path = Path(model_dir).expanduser()
    unet = _json_object(path / "unet" / "config.json").get("sample_size")
    if isinstance(unet, (list, tuple)) and len(unet) == 2 and unet[0] == unet[1]:
        unet = unet[0]  # a square [h, w]
    channels = _json_object(path / "vae" / "config.json").get("block_out_channels")
    if isinstance(unet, bool) or not isinstance(unet, int) or unet < 1:
        raise InputError(f"{path / 'unet' / 'config.json'}: sample_size {str(unet)[:40]} is not a positive integer; "
                         "give the size explicitly")
    if not isinstance(channels, list) or not channels:
        raise InputError(f"{path / 'vae' / 'config.json'}: no block_out_channels list; give the size explicitly")
    return unet * 2 ** (len(channels) - 1)


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
    if steps < 1:
        raise InputError(f"--steps must be at least 1, not {steps}")
    if not inputs:
        raise InputError("no images to inpaint")
    archs = check_names(archs)
    out = Path(out_dir)
    _write_inputs(out, inputs)
    settings = _Settings(steps, seed, guidance_scale, inputs[0].image.width, model_dir)
    rows: list[dict] = []
    total, done = len(archs) * len(inputs), [0]

    def report(message: str) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total, message)

    try:
        for arch in archs:
            rows += _inpaint_architecture(pipe, arch, inputs, out, settings, should_stop, report)
    except Cancelled:
        if rows:
            _write_manifest(out, pd.DataFrame(rows))
        raise
    manifest = pd.DataFrame(rows)
    _write_manifest(out, manifest)
    return manifest


@dataclass(frozen=True)
class _Settings:
    """What made an output folder's images (recorded in its rows and ``arch.json``)."""

    steps: int
    seed: int
    guidance_scale: float
    size: int
    model_dir: str


def _write_inputs(out: Path, inputs: Sequence[InpaintInput]) -> None:
    """The run's originals and masks, in ``OUT/_inputs/``."""
    for sub in ("originals", "masks"):
        (out / INPUTS_DIR / sub).mkdir(parents=True, exist_ok=True)
    for item in inputs:
        item.image.save(out / INPUTS_DIR / "originals" / f"{item.stem}.png")
        item.mask.save(out / INPUTS_DIR / "masks" / f"{item.stem}.png")


def _inpaint_architecture(pipe, arch: Architecture, inputs: Sequence[InpaintInput], out: Path, settings: _Settings,
                          should_stop: Callable[[], bool] | None, report: Callable[[str], None]) -> list[dict]:
    """One architecture's images: written to a hidden staging folder, moved into ``OUT/<name>/`` once all
    exist (a cancel removes the staging folder); returns the architecture's manifest rows."""
    import shutil

    import torch

    applied = apply_architecture(pipe.unet, arch.spec)
    variant = pipeline_with_unet(pipe, applied.unet)
    folder = out / arch.name
    staging = out / f".partial-{arch.name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # Asked after every denoising step; raising from the callback ends the pipeline call at once.
    stop_check = {} if should_stop is None else {"callback_on_step_end": _stop_callback(should_stop)}
    rows = []
    try:
        for item in inputs:
            if should_stop is not None and should_stop():
                raise Cancelled("inpainting was cancelled")
            generator = torch.Generator("cpu").manual_seed(image_seed(settings.seed, item.stem))
            with torch.inference_mode():
                result = variant(prompt=item.prompt, image=item.image, mask_image=item.mask, height=settings.size,
                                 width=settings.size, num_inference_steps=settings.steps,
                                 guidance_scale=settings.guidance_scale, generator=generator, **stop_check)
            nsfw = bool(result.nsfw_content_detected and result.nsfw_content_detected[0])
            result.images[0].save(staging / f"{item.stem}.png")
            rows.append({"name": arch.name, "set": arch.set, "arch": arch.spec, "image": item.stem,
                         "prompt": item.prompt, "seed": image_seed(settings.seed, item.stem),
                         "steps": settings.steps, "guidance_scale": settings.guidance_scale, "size": settings.size,
                         "nsfw_flagged": nsfw, "file": str((folder / f"{item.stem}.png").relative_to(out))})
            report(f"{arch.name}: {item.stem}")
    except BaseException:  # Cancel, Ctrl-C or a failure: nothing of an unfinished architecture stays
        shutil.rmtree(staging, ignore_errors=True)
        raise
    folder.mkdir(parents=True, exist_ok=True)
    for item in inputs:
        (staging / f"{item.stem}.png").replace(folder / f"{item.stem}.png")
    staging.rmdir()
    (folder / "arch.json").write_text(json.dumps({
        "name": arch.name, "set": arch.set, "arch": arch.spec, "params": applied.params,
        "params_full": applied.params_full, "removed": applied.removed, "model_dir": settings.model_dir,
        "steps": settings.steps, "seed": settings.seed, "guidance_scale": settings.guidance_scale,
        "size": settings.size, "images": len(inputs), "nsfw_flagged": sum(r["nsfw_flagged"] for r in rows),
    }, indent=2) + "\n")
    return rows


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
