"""Once-for-All subnets as plain PyTorch modules, with parameter, FLOP and latency measurement.

Once-for-All (Cai et al., ICLR 2020) trains one supernet whose subnets differ in depth per stage
(``d``), kernel size (``ks``) and expansion ratio (``e``) per layer, and input resolution (``r``).
A subnet extracted from it (``get_active_subnet``) is an ordinary MobileNet built from inverted
residual (MBConv) blocks; this module rebuilds exactly that network from a config, with random
weights, so that its size, FLOPs and latency can be measured without the OFA package, torchvision or
any download. Accuracy needs the trained weights and is therefore not available here.

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

An MBConv layer with input channels :math:`C_{in}`, expansion :math:`e`, kernel :math:`k` computes

.. math::
    C_{mid} = \\mathrm{div8}(C_{in} e), \\qquad
    y = \\mathrm{BN}(W_{proj} \\ast \\mathrm{SE}(\\sigma(\\mathrm{BN}(W^{k \\times k}_{dw} \\ast
        \\sigma(\\mathrm{BN}(W_{exp} \\ast x)))))) \\; [+\\, x]

where :math:`\\mathrm{div8}` is OFA's ``make_divisible(v, 8)``, the residual is added when the
stride is 1 and :math:`C_{in} = C_{out}`, and SE is
:math:`x \\cdot \\mathrm{hsigmoid}(W_2\\,\\mathrm{ReLU}(W_1 \\bar{x} + b_1) + b_2)` with
:math:`\\mathrm{div8}(C_{mid} / 4)` hidden channels.
"""
from __future__ import annotations

import copy
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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


# ------------------------------------------------------------------------------------------ modules

def activation(name: str) -> nn.Module:
    # torch's Hardswish/Hardsigmoid are OFA's x * relu6(x + 3) / 6 and relu6(x + 3) / 6.
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "relu6":
        return nn.ReLU6(inplace=True)
    if name == "h_swish":
        return nn.Hardswish(inplace=True)
    raise ValueError(f"unknown activation {name!r}")


class ConvBNAct(nn.Sequential):
    """``k x k`` conv (no bias), optional BatchNorm, optional activation: OFA's ``ConvLayer``."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 bn: bool = True, act: str | None = None) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)]
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        if act is not None:
            layers.append(activation(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """OFA's ``SEModule``: channel gates from the pooled input, ``div8(C / 4)`` hidden channels.

    Shapes: input and output ``[B, C, H, W]``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = make_divisible(channels // 4)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.relu(self.reduce(y))))


class MBConv(nn.Module):
    """Inverted residual block (OFA's ``MBConvLayer`` inside a ``ResidualBlock``).

    Args:
        cin / cout: input and output channels.
        kernel: depthwise kernel size.
        stride: depthwise stride.
        expand: expansion ratio; 1 drops the 1x1 expansion conv (the fixed first block).
        act: activation of the expansion and depthwise convs.
        se: squeeze-excite after the depthwise conv.
        shortcut: add the input (OFA adds it whenever stride is 1 and ``cin == cout``, except in
            ProxylessNAS' first block, which the caller handles by passing False).

    Shapes: input ``[B, cin, H, W]``, output ``[B, cout, H / stride, W / stride]``.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, act: str,
                 se: bool = False, shortcut: bool | None = None) -> None:
        super().__init__()
        mid = cin if expand == 1 else make_divisible(round(cin * expand))
        self.expand = None if expand == 1 else ConvBNAct(cin, mid, act=act)
        depthwise: list[nn.Module] = [ConvBNAct(mid, mid, kernel, stride, groups=mid, act=act)]
        if se:
            depthwise.append(SqueezeExcite(mid))
        self.depthwise = nn.Sequential(*depthwise)
        self.project = ConvBNAct(mid, cout)
        self.residual = (stride == 1 and cin == cout) if shortcut is None else shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class OFASubnet(nn.Module):
    """A whole OFA subnet: stem, fixed first block, the active MBConv layers, head, classifier.

    Args:
        layout: the supernet skeleton (:data:`MBV3` or :data:`PROXYLESS`).
        config: the subnet; its resolution only matters for the input the caller feeds.

    Shapes: input ``[B, 3, r, r]``, output ``[B, num_classes]`` logits.
    """

    def __init__(self, layout: Layout, config: SubnetConfig) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, layout.stem_width, 3, 2, act=layout.stem_act)
        # ProxylessNAS' first block changes the width (40 -> 24), so it has no shortcut either way.
        blocks: list[nn.Module] = [MBConv(layout.stem_width, layout.first_block_width, 3, 1, 1,
                                          layout.first_block_act)]
        channels = layout.first_block_width
        for stage_index, layer, slot in layout.active_layers(config.d):
            stage = layout.stages[stage_index]
            stride = stage.stride if layer == 0 else 1
            blocks.append(MBConv(channels, stage.width, config.ks[slot], stride, config.e[slot], stage.act, stage.se))
            channels = stage.width
        self.blocks = nn.Sequential(*blocks)
        before = []
        for conv in layout.head_before_pool:
            before.append(ConvBNAct(channels, conv.width, bn=conv.bn, act=conv.act))
            channels = conv.width
        self.head_before_pool = nn.Sequential(*before)
        after = []
        for conv in layout.head_after_pool:
            after.append(ConvBNAct(channels, conv.width, bn=conv.bn, act=conv.act))
            channels = conv.width
        self.head_after_pool = nn.Sequential(*after)
        self.classifier = nn.Linear(channels, layout.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_before_pool(self.blocks(self.stem(x)))
        x = self.head_after_pool(x.mean((2, 3), keepdim=True))
        return self.classifier(x.flatten(1))


def build_subnet(layout: Layout, config: SubnetConfig, seed: int = 0) -> OFASubnet:
    """The subnet in eval mode, with weights drawn from a fixed seed (the global RNG is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = OFASubnet(layout, config)
    return model.eval()


# -------------------------------------------------------------------------------------- measurement

def count_params(model: nn.Module) -> int:
    """Number of parameters (BatchNorm affine terms included, running statistics not), as OFA counts."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, resolution: int) -> int:
    """FLOPs of one batch-1 forward at ``resolution``, by ``torch.utils.flop_counter``.

    The counter charges 2 FLOPs per multiply-accumulate of convolutions and linear layers and nothing
    for BatchNorm, activations, pooling or the SE product, so the result is twice the "MACs" that the
    OFA and MobileNet papers report as FLOPs.

    Only ``nn.Conv2d`` and ``nn.Linear`` carry FLOPs in these networks, so they are counted one layer
    at a time: a plain forward records each layer's input shape, and each distinct (layer, shape) is
    counted once, on a meta-device copy, and cached. Counting a whole subnet under the counter costs
    about 0.4 s of dispatch overhead (mostly decomposing BatchNorm, which a meta-device forward pays
    too), while a table of 1,000 subnets has only a few hundred distinct layers. The total equals the
    counter run over the whole model (a test checks it). The shape pass runs with the caller's torch
    threads; pin them (:func:`pinned_threads`) on a busy machine.
    """
    inputs: list[tuple[nn.Module, tuple[int, ...]]] = []
    handles = [
        module.register_forward_pre_hook(lambda layer, args: inputs.append((layer, tuple(args[0].shape))))
        for module in model.modules() if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    try:
        device = next(model.parameters()).device
        with torch.inference_mode():
            model(torch.zeros(1, 3, resolution, resolution, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return sum(_layer_flops(layer, shape) for layer, shape in inputs)


_LAYER_FLOPS: dict[tuple[str, tuple[int, ...]], int] = {}


def _layer_flops(layer: nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one Conv2d/Linear on an input of ``shape``, counted on a meta-device copy and cached."""
    # repr holds every hyper-parameter of a Conv2d/Linear (channels, kernel, stride, groups, bias).
    key = (repr(layer), shape)
    if key not in _LAYER_FLOPS:
        meta = copy.deepcopy(layer).to("meta")
        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            meta(torch.empty(shape, device="meta"))
        _LAYER_FLOPS[key] = int(counter.get_total_flops())
    return _LAYER_FLOPS[key]


@contextmanager
def pinned_threads(threads: int | None) -> Iterator[int]:
    """Run with ``torch.set_num_threads(threads)`` (None keeps the current count); restores it after."""
    before = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Latency:
    """Timings of a batch-1 forward in milliseconds, medians over the timed runs.

    Attributes:
        wall_ms: wall-clock time: the latency a user sees.
        cpu_ms: CPU time the process spent per run. At one thread on an idle CPU it equals ``wall_ms``;
            unlike wall time it does not grow while other jobs hold the cores (time spent waiting for
            a core is not CPU time), so on a shared machine it is the steadier latency estimate. With
            several threads it sums over them, and on CUDA it is host time only.
    """

    wall_ms: float
    cpu_ms: float


def measure_latency(model: nn.Module, resolution: int, *, device: str | torch.device = "cpu",
                    warmup: int = 5, repeats: int = 20) -> Latency:
    """Median wall and CPU time of a batch-1 forward at ``resolution`` on ``device``.

    ``warmup`` untimed runs first (allocator, oneDNN/cuDNN algorithm choice, caches), then ``repeats``
    timed ones; the median shrugs off the odd run slowed by another process. On CUDA every run is
    synchronised so the time covers the kernels, not just their launch. Threads are the caller's
    business (:func:`pinned_threads`).
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got {warmup} and {repeats}")
    device = torch.device(device)
    model = model.to(device).eval()
    # A private generator: timing must not move the global RNG that seeds everything else.
    x = torch.randn(1, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    wall, cpu = [], []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        sync()
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            model(x)
            sync()
            wall.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
    return Latency(wall_ms=float(statistics.median(wall)), cpu_ms=float(statistics.median(cpu)))


def profile_subnet(layout: Layout, config: SubnetConfig, *, device: str = "cpu", threads: int | None = 1,
                   warmup: int = 5, repeats: int = 20) -> dict[str, float | int | str]:
    """Build a subnet and measure it on ``device`` with ``threads`` torch threads pinned.

    Returns the table columns ``latency_ms`` (median wall time), ``cpu_ms`` (median CPU time, see
    :class:`Latency`), ``params_m``, ``flops_m`` (see :func:`count_flops`), ``threads`` and ``device``.
    FLOPs and parameters do not depend on the device and are counted on the CPU model.
    """
    model = build_subnet(layout, config)
    params = count_params(model)
    with pinned_threads(threads) as used:
        flops = count_flops(model, config.r)
        latency = measure_latency(model, config.r, device=device, warmup=warmup, repeats=repeats)
    return {
        "latency_ms": round(latency.wall_ms, 4),
        "cpu_ms": round(latency.cpu_ms, 4),
        "params_m": round(params / 1e6, 6),
        "flops_m": round(flops / 1e6, 3),
        "threads": used,
        "device": str(torch.device(device)),
    }
