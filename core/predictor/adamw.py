"""AdamW (Loshchilov & Hutter, ICLR 2019) as one call of torch's fused kernel per step.

For every parameter p with gradient g, at step t with learning rate lr:

    p <- p (1 - lr wd)
    m <- b1 m + (1 - b1) g            v <- b2 v + (1 - b2) g^2
    p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

``torch.optim.AdamW(fused=True)`` runs the same kernel (``aten::_fused_adamw_``) but spends about
0.2 ms a step around it on a CPU (a Python pass over the parameters, a per-parameter step counter
incremented one tensor at a time): 5% of a predictor training step on graphs of 6-14 nodes
(docs/design.md, section 6.1). Here the parameter, moment and step lists are made once and all
parameters share one step counter. tests/predictor/test_adamw.py checks the updates equal
``torch.optim.AdamW(fused=True)``'s bit for bit, which also guards the kernel's signature against a
torch upgrade (torch is pinned exactly in requirements.txt).
"""
from __future__ import annotations

from typing import Iterable

import torch


class FusedAdamW:
    """AdamW over ``params`` with a settable learning rate ``lr`` (a schedule sets it between steps).

    Shapes: each parameter [any]; its two moments the same shape; one shared step counter [] float32.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("no parameters to optimise")
        if len({(p.device, p.dtype) for p in self.params}) != 1:
            raise ValueError("the fused AdamW step needs every parameter on one device with one dtype")
        self.lr, self.weight_decay, self.betas, self.eps = float(lr), float(weight_decay), betas, float(eps)
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._step = torch.zeros((), dtype=torch.float32, device=self.params[0].device)

    @property
    def steps_taken(self) -> int:
        return int(self._step)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient; one without is left as it is. The step counter is
        shared, so a parameter that missed steps is bias-corrected by every step taken (torch.optim counts
        per parameter); the predictor gives every parameter a gradient at every step."""
        with_grad = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not with_grad:
            return
        self._step.add_(1)
        pick = (lambda xs: xs) if len(with_grad) == len(self.params) else (lambda xs: [xs[i] for i in with_grad])
        params = pick(self.params)
        torch._fused_adamw_(params, [p.grad for p in params], pick(self.exp_avgs), pick(self.exp_avg_sqs), [],
                            [self._step] * len(params), lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
                            weight_decay=self.weight_decay, eps=self.eps, amsgrad=False, maximize=False)
