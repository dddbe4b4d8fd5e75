"""Training of the small SD-layout inpainting model with random block removal (resumable).

Every step draws an architecture: the full U-Net with probability ``full_probability``, else a uniform
random ``sd-unet`` architecture (:meth:`SdUnetSpace.sample`); the step's loss is taken through that
architecture (removed blocks bypassed, :func:`core.diffusion.unet_arch.apply_architecture`), so only the
kept blocks are updated. Trained this way, every architecture of the space is a working sub-network of the
one set of weights, and the 68-architecture study needs no retraining (weight sharing as in one-shot NAS).

Output folder (``out``): ``checkpoint.pt`` (model, optimizer, step, RNG states: written atomically every
``checkpoint_every`` steps; a rerun with the same folder resumes from it), ``loss.csv`` (step, loss,
architecture's removed-block count), and at the end ``model/`` (:func:`core.diffusion.small_model.save_model`,
float16) and ``training.json`` (config, data, steps, seconds, device).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.diffusion.photo_tiles import TileSampler, random_masks
from core.diffusion.sample_images import available_photos
from core.diffusion.small_inpaint import diffusion_loss
from core.diffusion.small_model import SmallInpaintModel, SmallModelConfig, save_model
from core.diffusion.unet_arch import apply_architecture
from core.spaces import get_space
from core.spaces.sd_unet import SPACE

CHECKPOINT, LOSS_LOG, MODEL_DIR, RECORD = "checkpoint.pt", "loss.csv", "model", "training.json"
CARD = "MODEL_CARD.md"
FID_PENDING = "not measured yet (benchmarks/sd_experiment.py writes it here)"


@dataclass(frozen=True)
class SmallTrainConfig:
    steps: int = 20_000
    batch_size: int = 128
    lr: float = 2e-4
    full_probability: float = 0.25
    seed: int = 0
    checkpoint_every: int = 1000
    tile_bank: int = 20_000  # training tiles cut once at the start (0: fresh tiles every step)
    model: SmallModelConfig = SmallModelConfig()

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", SmallModelConfig.from_dict(self.model))
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("steps, batch_size and checkpoint_every must be positive")
        if not 0.0 <= self.full_probability <= 1.0:
            raise ValueError(f"full_probability must be in [0, 1], not {self.full_probability}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, not {self.lr}")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "model": self.model.to_dict()}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _save_checkpoint(path: Path, model, optimizer, step: int, rng: np.random.Generator,
                     generator: torch.Generator, sampler: TileSampler) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "rng": rng.bit_generator.state, "tiles_rng": sampler.rng.bit_generator.state,
                "generator": generator.get_state()}, tmp)
    tmp.replace(path)


def train_small_model(out: str | Path, config: SmallTrainConfig = SmallTrainConfig(), device: str | None = None,
                      progress: Callable[[int, int, float], None] | None = None,
                      max_seconds: float | None = None) -> SmallInpaintModel | None:
    """Train (or resume training) into ``out``; returns the trained model (float32, eval mode).

    With ``max_seconds``, training stops at the first step past that time, writes its checkpoint and
    returns None (nothing exported): a rerun resumes, so a run can be split over time-limited sessions."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = device or default_device()
    torch.manual_seed(config.seed)
    model = SmallInpaintModel(config.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = TileSampler(config.model.image_size, config.seed, config.tile_bank)
    space = get_space(SPACE)
    checkpoint = out / CHECKPOINT
    step = _resume(checkpoint, device, model, optimizer, rng, sampler, generator)
    log = out / LOSS_LOG
    _start_loss_log(log, step)
    start = time.perf_counter()
    model.train()
    with log.open("a") as log_file:
        while step < config.steps:
            spec = None if rng.random() < config.full_probability else space.sample(rng)
            unet = model.unet if spec is None else apply_architecture(model.unet, spec).unet
            images = sampler.batch(config.batch_size).to(device)
            masks = random_masks(config.batch_size, config.model.image_size, generator).to(device)
            loss = diffusion_loss(model, unet, images, masks, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            removed = 0 if spec is None else space.removed_count(spec)
            log_file.write(f"{step},{loss.item():.5f},{removed}\n")
            if step % config.checkpoint_every == 0 or step == config.steps:
                log_file.flush()
                _save_checkpoint(checkpoint, model, optimizer, step, rng, generator, sampler)
            if progress is not None:
                progress(step, config.steps, loss.item())
            if max_seconds is not None and time.perf_counter() - start > max_seconds and step < config.steps:
                log_file.flush()
                _save_checkpoint(checkpoint, model, optimizer, step, rng, generator, sampler)
                return None
    model.eval()
    save_model(model, out / MODEL_DIR)
    record = {"config": config.to_dict(), "device": device, "steps": step,
              "parameters": sum(p.numel() for p in model.parameters()),
              "seconds_this_session": round(time.perf_counter() - start, 1),
              "photos": [f"{p.name}: {p.credit}" for p in available_photos()]}
    (out / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    write_model_card(out / MODEL_DIR / CARD, record, log)
    return model


def _resume(checkpoint: Path, device: str, model: SmallInpaintModel, optimizer: torch.optim.Optimizer,
            rng: np.random.Generator, sampler: TileSampler, generator: torch.Generator) -> int:
    """Load ``checkpoint`` (when there is one) into the model, optimiser and random states; the step it reached."""
    if not checkpoint.is_file():
        return 0
    # weights_only: the checkpoint holds tensors, numbers and dicts only (no pickled objects).
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng"]
    sampler.rng.bit_generator.state = state["tiles_rng"]
    generator.set_state(state["generator"])
    return int(state["step"])


def _start_loss_log(log: Path, step: int) -> None:
    """A fresh ``loss.csv`` at step 0; on resuming, the rows logged after the checkpoint's ``step`` dropped."""
    if step == 0 or not log.is_file():
        log.write_text("step,loss,removed_blocks\n")
    else:
        lines = log.read_text().splitlines()
        log.write_text("\n".join([lines[0]] + [r for r in lines[1:] if int(r.split(",")[0]) <= step]) + "\n")


def loss_curve(log: Path, points: int = 10) -> list[tuple[int, float]]:
    """``points`` (step, mean loss of the steps since the previous point) pairs from ``loss.csv``."""
    rows = [line.split(",") for line in log.read_text().splitlines()[1:] if line]
    if not rows:
        return []
    steps, losses = np.array([int(r[0]) for r in rows]), np.array([float(r[1]) for r in rows])
    edges = np.linspace(0, len(rows), min(points, len(rows)) + 1).astype(int)
    return [(int(steps[b - 1]), float(losses[a:b].mean())) for a, b in zip(edges[:-1], edges[1:])]


def write_model_card(path: Path, record: dict, log: Path, full_fid: str = FID_PENDING) -> Path:
    """The model card: what the model is (and is not), data and licences, steps, loss curve, full-network FID."""
    cfg = record["config"]
    size = cfg["model"]["image_size"]
    tiles = f"{cfg['tile_bank']:,}" if cfg.get("tile_bank") else "fresh random"
    params = record.get("parameters", 0)
    curve = "\n".join(f"| {step} | {loss:.4f} |" for step, loss in loss_curve(log))
    photos = "\n".join(f"- {p}" for p in record["photos"])
    path.write_text(f"""# Small SD-v1.4-layout inpainting model (AutoBuild Studio)

**This is not Stable Diffusion v1.4.** It is a small pixel-space inpainting diffusion model whose U-Net is a
diffusers `UNet2DConditionModel` with SD v1.4's block types and depths (CrossAttnDown x3 + Down,
cross-attention mid block, Up + CrossAttnUp x3, 2 layers per block) at reduced width
{cfg["model"]["block_out_channels"]} ({params:,} parameters), trained in this project on {tiles} tiles of
{size} x {size} pixels for {record["steps"]} steps, so that AutoBuild's SD experiment can run offline.
Its FIDs are not comparable with the paper's SD v1.4 numbers; only rankings and gaps between sets are.

## How it differs from SD v1.4
| | SD v1.4 inpainting | this model |
|---|---|---|
| U-Net blocks | 4 down, mid, 4 up; 2 layers per block; ResNet + cross-attention | the same types and depths |
| widths | 320 / 640 / 1280 / 1280 (about 860 M parameters) | {list(cfg["model"]["block_out_channels"])} ({params:,} parameters) |
| where it works | 64 x 64 x 4 VAE latents of 512 x 512 images | {size} x {size} RGB pixels (no VAE) |
| conditioning | CLIP text embeddings of a prompt | one learned context of {cfg["model"]["context_tokens"]} tokens (no prompts) |
| data | LAION-2B / LAION-Aesthetics, hundreds of millions of images | {tiles} tiles cut from {len(record["photos"])} photographs |
| training | hundreds of thousands of steps on a GPU cluster | {record["steps"]} steps on {record["device"]}; random blocks removed per step |

- Input: {cfg["model"]["image_size"]} x {cfg["model"]["image_size"]} RGB; noisy image + mask + masked image
  (7 channels); a fixed learned context of {cfg["model"]["context_tokens"]} tokens for the cross-attention.
- Objective: DDPM epsilon prediction, SD's scaled-linear schedule ({cfg["model"]["train_timesteps"]} steps);
  sampling with DDIM.
- Training: {record["steps"]} steps, batch {cfg["batch_size"]}, AdamW lr {cfg["lr"]}, seed {cfg["seed"]}, on
  {record["device"]}; every step removes a random subset of the removable blocks (a uniform random `sd-unet`
  architecture, or the full network with probability {cfg["full_probability"]}), so every architecture of the
  space is a working sub-network of these weights.
- Weights: float16 safetensors (`model.safetensors`), config in `config.json`.
- FID of the full network: {full_fid}

## Data
Random tiles (1/8 to 1/2 of the shorter side, resized, flipped) from the left three quarters of these real
photographs, which ship in PyPI packages (scikit-image's `skimage/data`, scikit-learn's
`sklearn/datasets/images`); evaluation tiles come from the right quarter, never trained on:

{photos}

## Loss curve (mean loss per interval)
| step | loss |
|---|---|
{curve}
""")
    return path
