"""The fixed skeletons of the two Once-for-All supernets (:class:`Layout`) and a subnet config.

The layouts follow ``ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py`` and
``ofa_proxyless.py`` at the released widths (``ofa_mbv3_d234_e346_k357_w1.0`` and
``ofa_proxyless_d234_e346_k357_w1.3``):

- MobileNetV3 (w1.0): stem 3x3/2 conv to 16 (h-swish), a fixed 16->16 depthwise block (e = 1, ReLU,
  identity shortcut), 5 elastic stages of widths 24, 40, 80, 112, 160, strides 2, 2, 2, 1, 2,
  activations ReLU, ReLU, h-swish, h-swish, h-swish, squeeze-excite in stages 2, 4 and 5, each 2-4
  layers; head 1x1 conv to 960 (BN, h-swish), global pool, 1x1 conv to 1280 (no BN, h-swish), linear.
- ProxylessNAS (w1.3): stem 3x3/2 conv to 40 (ReLU6), a fixed 40->24 block (e = 1, no shortcut),
  5 elastic stages of widths 32, 56, 104, 128, 248 (strides 2, 2, 2, 1, 2; 2-4 layers) and a 6th
  stage of one elastic layer to 416 (stride 1), all ReLU6 and no squeeze-excite; head 1x1 conv to
  1664 (BN, ReLU6), global pool, linear.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

#: Kernel sizes and expansion ratios of every elastic layer (both OFA supernets).
KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)


def make_divisible(value: float, divisor: int = 8) -> int:
    """OFA's channel rounding: nearest multiple of ``divisor``, never more than 10% below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


# ------------------------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class Stage:
    """One stage of elastic MBConv layers: only the first layer strides and changes the width."""

    width: int
    stride: int
    act: str
    se: bool
    depths: tuple[int, ...]

    @property
    def max_depth(self) -> int:
        return max(self.depths)


@dataclass(frozen=True)
class HeadConv:
    """A 1x1 conv of the head (before or after global pooling)."""

    width: int
    bn: bool
    act: str


@dataclass(frozen=True)
class Layout:
    """The fixed skeleton of an OFA supernet; a config chooses what happens inside its stages."""

    name: str
    stem_width: int
    stem_act: str
    first_block_width: int
    first_block_act: str
    stages: tuple[Stage, ...]
    head_before_pool: tuple[HeadConv, ...]
    head_after_pool: tuple[HeadConv, ...]
    num_classes: int = 1000

    @property
    def num_layers(self) -> int:
        """Length of the ``ks`` and ``e`` lists: every elastic layer slot, active or not."""
        return sum(s.max_depth for s in self.stages)

    def slot(self, stage: int, layer: int) -> int:
        """Index into ``ks``/``e`` of layer ``layer`` of stage ``stage`` (both 0-based)."""
        return sum(s.max_depth for s in self.stages[:stage]) + layer

    def active_layers(self, depths: Sequence[int]) -> Iterator[tuple[int, int, int]]:
        """``(stage, layer, slot)`` of every active layer in data-flow order; OFA keeps the first ``d``."""
        for stage, d in enumerate(depths):
            for layer in range(d):
                yield stage, layer, self.slot(stage, layer)


MBV3 = Layout(
    name="MobileNetV3 w1.0",
    stem_width=16,
    stem_act="h_swish",
    first_block_width=16,
    first_block_act="relu",
    stages=(
        Stage(24, 2, "relu", False, (2, 3, 4)),
        Stage(40, 2, "relu", True, (2, 3, 4)),
        Stage(80, 2, "h_swish", False, (2, 3, 4)),
        Stage(112, 1, "h_swish", True, (2, 3, 4)),
        Stage(160, 2, "h_swish", True, (2, 3, 4)),
    ),
    head_before_pool=(HeadConv(960, True, "h_swish"),),
    head_after_pool=(HeadConv(1280, False, "h_swish"),),
)


def _w13(width: int) -> int:
    return make_divisible(width * 1.3)


PROXYLESS = Layout(
    name="ProxylessNAS w1.3",
    stem_width=_w13(32),
    stem_act="relu6",
    first_block_width=_w13(16),
    first_block_act="relu6",
    stages=(
        Stage(_w13(24), 2, "relu6", False, (2, 3, 4)),
        Stage(_w13(40), 2, "relu6", False, (2, 3, 4)),
        Stage(_w13(80), 2, "relu6", False, (2, 3, 4)),
        Stage(_w13(96), 1, "relu6", False, (2, 3, 4)),
        Stage(_w13(192), 2, "relu6", False, (2, 3, 4)),
        Stage(_w13(320), 1, "relu6", False, (1,)),
    ),
    head_before_pool=(HeadConv(_w13(1280), True, "relu6"),),
    head_after_pool=(),
)


@dataclass(frozen=True)
class SubnetConfig:
    """A validated OFA subnet: ``ks``/``e`` per layer slot, ``d`` per stage, input resolution ``r``."""

    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]
    r: int
