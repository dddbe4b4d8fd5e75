"""Noise schedule, training loss and DDIM inpainting of the small model (:mod:`core.diffusion.small_model`).

Schedule: SD v1.x's "scaled linear" betas (sqrt(beta) linear from sqrt(0.00085) to sqrt(0.012)) over
``T`` training steps; ``abar_t`` = prod(1 - beta). Training (DDPM, Ho et al. 2020): x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps, loss = |eps - eps_theta(x_t, t, mask, masked x_0)|^2. Sampling: deterministic DDIM
(Song et al. 2021, eta = 0) over ``steps`` evenly spaced timesteps from noise drawn per image from a
generator seeded by the run seed and the image index, so every architecture starts from the same noise;
the known pixels of the input are pasted back into the result (the mask decides what is generated).
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn

from core.diffusion.small_model import SmallInpaintModel
from core.diffusion.unet_arch import apply_architecture
from core.errors import Cancelled, InputError


def alphas_cumprod(timesteps: int) -> torch.Tensor:
    """abar_t [T] of the scaled-linear schedule."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def masked_input(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The image with the repaint region (mask 1) set to 0, the model's conditioning [B, 3, S, S]."""
    return images * (1.0 - masks)


def diffusion_loss(model: SmallInpaintModel, unet: nn.Module, images: torch.Tensor, masks: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The DDPM epsilon loss of ``unet`` (an architecture of ``model``) on a batch [B, 3, S, S] in [-1, 1]."""
    abar = alphas_cumprod(model.config.train_timesteps).to(images.device)
    t = torch.randint(0, len(abar), (images.shape[0],), generator=generator).to(images.device)
    noise = torch.randn(images.shape, generator=generator).to(images.device)
    a = abar[t].view(-1, 1, 1, 1)
    noisy = a.sqrt() * images + (1 - a).sqrt() * noise
    predicted = model(unet, noisy, t, masks, masked_input(images, masks))
    return torch.mean((predicted.float() - noise) ** 2)


@torch.inference_mode()
def inpaint(model: SmallInpaintModel, spec: str | None, images: torch.Tensor, masks: torch.Tensor,
            steps: int = 25, seed: int = 0, batch_size: int = 64,
            progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> tuple[torch.Tensor, float]:
    """Inpaint ``images`` [N, 3, S, S] in [-1, 1] where ``masks`` [N, 1, S, S] is 1 with the architecture
    ``spec`` (None: the full network). Returns the images [N, 3, S, S] and the seconds per image.

    ``progress(done, total)`` after every batch; ``should_stop()`` is asked before every denoising step and
    raises :class:`core.errors.Cancelled` when true (the results of an uncancelled call do not depend on it)."""
    if steps < 1:
        raise InputError(f"steps must be at least 1, not {steps}")
    if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
        raise InputError(f"{images.shape[0]} images of {tuple(images.shape[-2:])} but {masks.shape[0]} masks of "
                         f"{tuple(masks.shape[-2:])}")
    device = next(model.parameters()).device
    unet = model.unet if spec is None else apply_architecture(model.unet, spec).unet
    abar = alphas_cumprod(model.config.train_timesteps).to(device)
    schedule = torch.linspace(len(abar) - 1, 0, steps).round().long().tolist()
    # One generator per image (seed, index): the noise of image i never depends on the batch it is in.
    noise = torch.stack([torch.randn(images.shape[1:], generator=torch.Generator().manual_seed(seed * 100_003 + i))
                         for i in range(images.shape[0])])
    out = []
    start = time.perf_counter()
    for b in range(0, images.shape[0], batch_size):
        x0, m = images[b:b + batch_size].to(device), masks[b:b + batch_size].to(device)
        cond = masked_input(x0, m)
        x = noise[b:b + batch_size].to(device)
        for i, t in enumerate(schedule):
            if should_stop is not None and should_stop():
                raise Cancelled("inpainting was cancelled")
            eps = model(unet, x, torch.full((x.shape[0],), t, device=device), m, cond).float()
            a_t = abar[t]
            pred_x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
            a_prev = abar[schedule[i + 1]] if i + 1 < len(schedule) else torch.tensor(1.0, device=device)
            eps = (x - a_t.sqrt() * pred_x0) / (1 - a_t).sqrt()
            x = a_prev.sqrt() * pred_x0 + (1 - a_prev).sqrt() * eps
        out.append((x.clamp(-1, 1) * m + x0 * (1 - m)).cpu())
        if progress is not None:
            progress(min(b + batch_size, images.shape[0]), images.shape[0])
    seconds = time.perf_counter() - start
    return torch.cat(out), seconds / max(1, images.shape[0])
