"""Measuring a PyTorch model: parameters, FLOPs of a batch-1 forward, and latency under pinned threads.

Used for the Once-for-All subnets (:func:`core.spaces.ofa_subnets.profile_subnet`); nothing here knows OFA.
"""
from __future__ import annotations

import copy
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


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
