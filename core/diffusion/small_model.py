"""A small pixel-space inpainting diffusion model with SD v1.4's U-Net block layout (not Stable Diffusion).

No SD v1.4 weights can be had offline, so AutoBuild's SD experiment runs on a model trained here: a diffusers
``UNet2DConditionModel`` with SD v1.4's block types and depths (CrossAttnDown x3 + Down, cross-attention mid
block, Up + CrossAttnUp x3, 2 layers per block), so every ``sd-unet`` architecture applies to it unchanged
(:func:`core.diffusion.unet_arch.apply_architecture`), at reduced width and in pixel space:

- input [B, 7, S, S]: the noisy image x_t (3, in [-1, 1] scale), the mask (1, 1 = repaint) and the masked
  image (3, the repaint region set to 0), the pixel-space analogue of SD inpainting's 4 + 1 + 4 latents;
- output [B, 3, S, S]: the predicted noise epsilon (DDPM, Ho et al. 2020);
- cross-attention context: a fixed learned tensor [1, tokens, cross_attention_dim] (there are no prompts),
  so the attention blocks are real ``Transformer2DModel`` blocks with something learned to attend to.

Weights are stored as ``model.safetensors`` (float16) next to ``config.json``; loading never unpickles.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.errors import InputError

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
IMAGE_CHANNELS = 3
IN_CHANNELS = 2 * IMAGE_CHANNELS + 1  # noisy image + mask + masked image


@dataclass(frozen=True)
class SmallModelConfig:
    """Widths of the small model; the block layout is always SD v1.4's."""

    image_size: int = 32
    block_out_channels: tuple[int, ...] = (32, 64, 64, 64)
    norm_num_groups: int = 16
    cross_attention_dim: int = 64
    attention_head_dim: int = 8
    context_tokens: int = 4
    train_timesteps: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_out_channels", tuple(int(c) for c in self.block_out_channels))
        if len(self.block_out_channels) != 4:
            raise ValueError(f"block_out_channels needs 4 widths (SD v1.4 has 4 levels), not {self.block_out_channels}")
        if any(c < 1 or c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(f"every width must be a positive multiple of norm_num_groups={self.norm_num_groups}, "
                             f"not {self.block_out_channels}")
        if self.image_size < 8 or self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (three /2 steps), not {self.image_size}")
        if min(self.cross_attention_dim, self.attention_head_dim, self.context_tokens, self.train_timesteps) < 1:
            raise ValueError("cross_attention_dim, attention_head_dim, context_tokens, train_timesteps must be >= 1")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "block_out_channels": list(self.block_out_channels)}

    @classmethod
    def from_dict(cls, data: dict) -> "SmallModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"small model config has unknown field {unknown[0]!r}")
        return cls(**data)


#: The CPU profile: the default widths at 16 x 16 pixels (a 32 x 32 training step costs about 10x more on a
#: CPU; see docs/decisions.md), trained in about an hour on 2 cores by ``benchmarks/sd_cpu_run.sh``.
CPU_CONFIG = SmallModelConfig(image_size=16)

#: A model small enough for a CPU training step in a test (same layout).
TOY_CONFIG = SmallModelConfig(image_size=16, block_out_channels=(8, 16, 16, 16), norm_num_groups=8,
                              cross_attention_dim=16, attention_head_dim=4, context_tokens=2)


class SmallInpaintModel(nn.Module):
    """``unet`` (SD v1.4 layout, 7 channels in, 3 out) plus the learned context it cross-attends to."""

    def __init__(self, config: SmallModelConfig) -> None:
        super().__init__()
        from diffusers import UNet2DConditionModel

        self.config = config
        self.unet = UNet2DConditionModel(
            sample_size=config.image_size, in_channels=IN_CHANNELS, out_channels=IMAGE_CHANNELS,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            block_out_channels=config.block_out_channels, layers_per_block=2,
            cross_attention_dim=config.cross_attention_dim, attention_head_dim=config.attention_head_dim,
            norm_num_groups=config.norm_num_groups)
        self.context = nn.Parameter(torch.randn(1, config.context_tokens, config.cross_attention_dim) * 0.02)

    def forward(self, unet: nn.Module, noisy: torch.Tensor, timesteps: torch.Tensor, mask: torch.Tensor,
                masked: torch.Tensor) -> torch.Tensor:
        """Predicted noise [B, 3, S, S] of ``unet`` (this model's U-Net or an architecture applied to it)."""
        x = torch.cat([noisy, mask, masked], dim=1)
        context = self.context.expand(x.shape[0], -1, -1)
        return unet(x, timesteps, encoder_hidden_states=context).sample


def save_model(model: SmallInpaintModel, folder: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (``dtype``) into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    return folder


def load_model(folder: str | Path, device: str = "cpu") -> SmallInpaintModel:
    """The model saved in ``folder``, in float32 on ``device``, in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise InputError(f"small model folder {folder} has no {name}")
    try:
        config = SmallModelConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise InputError(f"{folder / CONFIG_FILE}: {err}") from None
    model = SmallInpaintModel(config)
    state = load_file(str(folder / WEIGHTS_FILE))
    missing = sorted(set(model.state_dict()) - set(state))
    if missing:
        raise InputError(f"{folder / WEIGHTS_FILE} lacks {missing[0]} (and {len(missing) - 1} more)")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval()
