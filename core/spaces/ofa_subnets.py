"""Once-for-All subnets as plain PyTorch modules, profiled by :mod:`core.model_measure`.

Once-for-All (Cai et al., ICLR 2020) trains one supernet whose subnets differ in depth per stage
(``d``), kernel size (``ks``) and expansion ratio (``e``) per layer, and input resolution (``r``).
A subnet extracted from it (``get_active_subnet``) is an ordinary MobileNet built from inverted
residual (MBConv) blocks; this module rebuilds exactly that network from a config, with random
weights, so that its size, FLOPs and latency can be measured without the OFA package, torchvision or
any download. Accuracy needs the trained weights and is therefore not available here. The supernet
layouts are :mod:`core.spaces.ofa_layouts`.

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

import torch
from torch import nn

from core.model_measure import (
    count_flops,
    count_params,
    measure_latency,
    pinned_threads,
)
from core.spaces.ofa_layouts import (
    Layout,
    SubnetConfig,
    make_divisible,
)

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
