"""Apply an ``sd-unet`` architecture to a loaded diffusers ``UNet2DConditionModel`` (AutoBuild's SD v1.4 space).

A removed block is *bypassed*: its slot in the diffusers ``resnets``/``attentions`` list holds an identity
module, so diffusers' own forward code runs unchanged and every kept block keeps its trained weights (no
retraining, as in the paper's evaluation of U-Net variants by inpainting FID).

- A removed ResNet returns its input ``h`` [B, C, H, W]. The space only removes ResNets whose input and output
  channels are equal (the second R of down0..down3 and of mid); a channel-changing ResNet (the first R of
  down1, down2, up2, up3) has no identity replacement, so the space never removes it and this module refuses
  to (one-line :class:`~core.errors.InputError`) if a model's channels make a removed ResNet change them.
- A removed Attention block (``Transformer2DModel``, same channels in and out) returns its input; it answers
  diffusers' ``return_dict=False`` call with the tuple ``(h,)`` as the real block does.
- Up-stage ResNets are never removed (each one fuses an encoder skip connection, see the space's rules), so
  the number of skip connections produced by the encoder and consumed by the decoder never changes: a removed
  down layer still emits a skip, its input.

The returned model shares every kept module (and so every weight tensor) with the original, whose module
tree is not modified: only the containers on the path to a removed block are copied. Moving the returned
model with ``.to(...)`` therefore moves the shared weights of the original too.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from core.errors import InputError
from core.spaces import get_space
from core.spaces.sd_unet import SPACE, removed_blocks

DOWN_BLOCK_TYPES = ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)
UP_BLOCK_TYPES = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3
MID_BLOCK_TYPE = "UNetMidBlock2DCrossAttn"
#: (resnets, attentions) per diffusers block of the SD v1.x layout (layers_per_block = 2).
BLOCK_COUNTS = {
    "down_blocks.0": (2, 2), "down_blocks.1": (2, 2), "down_blocks.2": (2, 2), "down_blocks.3": (2, 0),
    "mid_block": (2, 1),
    "up_blocks.0": (3, 0), "up_blocks.1": (3, 3), "up_blocks.2": (3, 3), "up_blocks.3": (3, 3),
}


class BypassedResnet(nn.Module):
    """Stands in for a removed ``ResnetBlock2D``: ``forward(h [B, C, H, W], temb) -> h``."""

    def __init__(self, path: str, channels: int) -> None:
        super().__init__()
        self.path = path
        self.channels = channels

    def forward(self, input_tensor: torch.Tensor, temb: torch.Tensor | None = None, *args, **kwargs) -> torch.Tensor:
        return input_tensor

    def extra_repr(self) -> str:
        return f"bypassed {self.path} (identity, {self.channels} channels)"


class BypassedAttention(nn.Module):
    """Stands in for a removed ``Transformer2DModel``: returns ``h`` [B, C, H, W] unchanged."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, hidden_states: torch.Tensor, *args, return_dict: bool = True, **kwargs):
        if return_dict:
            from diffusers.models.modeling_outputs import Transformer2DModelOutput

            return Transformer2DModelOutput(sample=hidden_states)
        return (hidden_states,)

    def extra_repr(self) -> str:
        return f"bypassed {self.path} (identity)"


@dataclass
class AppliedArchitecture:
    """A U-Net with an architecture applied.

    Attributes:
        unet: the model to run (shares kept modules with the original).
        spec: the canonical ``sd-unet`` spec.
        removed: diffusers module paths of the bypassed blocks, in execution order.
        params: parameters of ``unet``; params_full: parameters of the original model.
    """

    unet: nn.Module
    spec: str
    removed: list[str] = field(default_factory=list)
    params: int = 0
    params_full: int = 0

    def summary(self) -> str:
        """One line: parameters and removed blocks."""
        share = 100.0 * self.params / self.params_full if self.params_full else 100.0
        removed = ", ".join(self.removed) if self.removed else "none"
        return f"{self.params:,} parameters ({share:.1f}% of {self.params_full:,}); removed: {removed}"


def count_parameters(module: nn.Module) -> int:
    """Distinct parameter elements (shared tensors counted once)."""
    return sum(p.numel() for p in module.parameters())


def check_layout(unet: nn.Module) -> None:
    """Raise a one-line :class:`InputError` unless ``unet`` has the SD v1.x U-Net block layout."""
    config = getattr(unet, "config", None)
    if config is None or not hasattr(unet, "down_blocks"):
        raise InputError(f"expected a diffusers UNet2DConditionModel, got {type(unet).__name__}")
    down, up = tuple(config.down_block_types), tuple(config.up_block_types)
    mid = getattr(config, "mid_block_type", MID_BLOCK_TYPE) or MID_BLOCK_TYPE
    if down != DOWN_BLOCK_TYPES or up != UP_BLOCK_TYPES or mid != MID_BLOCK_TYPE:
        raise InputError(f"U-Net is not the SD v1.x layout: down_block_types={list(down)}, mid_block_type={mid!r}, "
                         f"up_block_types={list(up)} (need {list(DOWN_BLOCK_TYPES)}, {MID_BLOCK_TYPE!r}, "
                         f"{list(UP_BLOCK_TYPES)})")
    for path, (n_res, n_attn) in BLOCK_COUNTS.items():
        block = unet.get_submodule(path)
        got = (len(block.resnets), len(getattr(block, "attentions", None) or ()))
        if got != (n_res, n_attn):
            raise InputError(f"U-Net block {path} has {got[0]} resnets and {got[1]} attentions, the SD v1.x "
                             f"layout has {n_res} and {n_attn} (layers_per_block must be 2)")


def _copy_container(module: nn.Module) -> nn.Module:
    """A shallow copy with its own child table: replacing a child in the copy leaves ``module`` intact."""
    clone = copy.copy(module)
    clone._modules = dict(module._modules)
    return clone


def apply_architecture(unet: nn.Module, spec: str) -> AppliedArchitecture:
    """The U-Net of ``spec``: removed blocks of ``unet`` bypassed, kept blocks (and weights) shared untouched."""
    space = get_space(SPACE)
    masks = space.parse(spec)
    check_layout(unet)
    model = _copy_container(unet)
    clones: dict[str, nn.Module] = {"": model}

    def container(path: str) -> nn.Module:
        # Copy each container on the way down once, so several removals in one block share one copy.
        if path not in clones:
            parent_path, _, name = path.rpartition(".")
            parent = container(parent_path)
            clones[path] = _copy_container(parent._modules[name])
            parent._modules[name] = clones[path]
        return clones[path]

    removed = []
    for stage, position in removed_blocks(masks):
        path = stage.module_path(position)
        parent_path, _, index = path.rpartition(".")
        parent = container(parent_path)
        original = parent._modules[index]
        if stage.layout[position] == "R":
            if original.in_channels != original.out_channels:
                raise InputError(f"cannot bypass {path}: it maps {original.in_channels} to "
                                 f"{original.out_channels} channels, so no identity can replace it")
            parent._modules[index] = BypassedResnet(path, original.out_channels)
        else:
            parent._modules[index] = BypassedAttention(path)
        removed.append(path)
    return AppliedArchitecture(unet=model, spec=space.canonical(spec), removed=removed,
                               params=count_parameters(model), params_full=count_parameters(unet))
