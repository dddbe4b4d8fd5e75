"""The real SD v1.4 inpainting U-Net, at full size, and what the ``sd-unet`` space may remove from it.

The ``sd-unet`` space (:mod:`core.spaces.sd_unet`) is defined on block *positions*; whether a removal is
sound depends on the real model's channel counts. This module writes SD v1.4's U-Net config down (the
``unet/config.json`` of the SD v1.x inpainting checkpoints, 9 input channels: 4 noisy latents + 1 mask +
4 masked-image latents; nothing is downloaded) so that the full-size model can be built with random weights,
on the ``meta`` device (shapes only, no memory) or on the CPU (about 3.5 GB in float32), and classifies every
ResNet and Attention block:

- ``identity``: same channels in and out and no skip connection consumed, so an identity can stand in
  (every ``Transformer2DModel`` and every down/mid ResNet except the channel-changing ones);
- ``shortcut only``: the ResNet changes its channel count (down1/down2 first R: 320->640, 640->1280) or
  consumes a skip connection (every up-block ResNet: ``cat([h, skip])`` has more channels than its output),
  so only its ``conv_shortcut`` path (a 1x1 conv) could replace it; the space keeps these blocks.

:func:`block_report` lists every block with its channels, parameter count, how it could be removed and what
the space does with it (``optional`` or the rule that keeps it).
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from torch import nn

from core.spaces.sd_unet import STAGES

#: diffusers ``UNet2DConditionModel`` config of SD v1.4 inpainting (SD v1.x layout, ``in_channels=9``).
SD14_INPAINT_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 9,
    "out_channels": 4,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
#: Latent size of a 512 x 512 image (VAE scale factor 8) and the CLIP text context SD v1.4 attends to.
LATENT_SIZE, CONTEXT_TOKENS, CONTEXT_DIM = 64, 77, 768


def build_sd14_unet(device: str = "meta", config: dict[str, Any] | None = None) -> nn.Module:
    """The SD v1.4 inpainting U-Net with random weights; ``device="meta"`` allocates no memory."""
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device(device):
        return UNet2DConditionModel(**(config or SD14_INPAINT_UNET_CONFIG)).eval()


def _stage_rule(stage, position: int) -> str:
    if not stage.fixed(position):
        return "optional"
    return "kept: up-stage R (consumes a skip)" if stage.is_up else "kept: first R of its stage"


def block_report(unet: nn.Module) -> pd.DataFrame:
    """One row per ResNet/Attention block of an SD v1.x-layout U-Net, in execution order.

    Columns: ``stage``, ``block`` (``R1``/``A0``), ``module`` (diffusers path), ``kind``, ``in_channels``,
    ``out_channels``, ``params``, ``removable`` (``identity`` or ``shortcut only``), ``space`` (``optional``
    or why the ``sd-unet`` space keeps it).
    """
    rows = []
    for stage in STAGES:
        for p, kind in enumerate(stage.layout):
            module = unet.get_submodule(stage.module_path(p))
            if kind == "R":
                c_in, c_out = module.in_channels, module.out_channels
            else:
                c_in = c_out = module.in_channels
            removable = "identity" if c_in == c_out else "shortcut only"
            rows.append({"stage": stage.name, "block": stage.block_name(p), "module": stage.module_path(p),
                         "kind": kind, "in_channels": c_in, "out_channels": c_out,
                         "params": sum(t.numel() for t in module.parameters()), "removable": removable,
                         "space": _stage_rule(stage, p)})
    return pd.DataFrame(rows)
