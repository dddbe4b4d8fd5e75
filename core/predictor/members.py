"""The members of an ensemble under training, stepped together (docs/design.md, section 2.10).

A training step of one small predictor is mostly fixed per-operation cost (a few microseconds per kernel
and autograd node), not arithmetic. Stepping K members one after another pays that cost K times. The
members' weights are stacked (``stack_module_state``, [K, ...] per parameter) and run as one model: on dense
batches of the default layers by :mod:`core.predictor.member_forward` (a forward written with a member
dimension), otherwise by ``torch.func.vmap`` over the stacked weights (whose batching layer costs a few
milliseconds a step by itself). The loss is the sum of the members' own magnitude-ranked losses: each member's weights get
exactly the gradient they would get alone, since no weight is shared.

GATv2's fused layer (:mod:`core.predictor.gatv2_block`) is an autograd function without a vmap rule,
so GATv2 members are stepped one after another in the same step (same numbers, K times the fixed cost).
"""
from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from core.predictor.batching import DenseBatch, GraphBatch
from core.predictor.loss import magnitude_ranked_loss, masked_soft_spearman, soft_spearman
from core.predictor.member_forward import STACKED_GNNS, stacked_forward
from core.predictor.model import AutoBuildPredictor, output_bias

#: Layer types whose members can be stepped under vmap (plain autograd all the way through).
VECTORISED_GNNS = frozenset({"graphconv", "gin"})


def _zero_gradient(grad: torch.Tensor) -> torch.Tensor:
    # The stacked copy of a bias BatchNorm cancels (see core.predictor.model._exact_zero_gradient).
    return torch.zeros_like(grad)


class MemberTraining:
    """K members under training: their weights for the optimiser, and one loss over all of them.

    ``members`` are the modules; with ``vectorised`` their weights are stacked copies (``params``,
    ``buffers``: [K, ...] each) that :meth:`sync` writes back into the modules.
    """

    def __init__(self, members: list[AutoBuildPredictor]) -> None:
        self.members = members
        self.vectorised = len(members) > 1 and members[0].config.gnn in VECTORISED_GNNS
        if self.vectorised:
            self.params, self.buffers = stack_module_state(members)
            self._base = copy.deepcopy(members[0]).to("meta")
            names = {id(p): n for n, p in members[0].named_parameters()}
            for conv in members[0].convs:
                self.params[names[id(output_bias(conv))]].register_hook(_zero_gradient)
        #: Settings of the member-dimension forward (core.predictor.member_forward), when it covers the model.
        self.stacked_settings = None
        first = members[0]
        if self.vectorised and first.config.gnn in STACKED_GNNS:
            norm = first.norms[0]
            self.stacked_settings = {"gnn": first.config.gnn, "layers": first.config.layers,
                             "offsets": first.fe_mlp._table_offsets, "categorical": len(first.fe_mlp.categorical),
                             "numeric": len(first.fe_mlp.numeric), "momentum": norm.momentum, "eps": norm.eps}

    def parameters(self) -> list[torch.Tensor]:
        if self.vectorised:
            return list(self.params.values())
        return [p for member in self.members for p in member.parameters()]

    def train(self) -> None:
        for member in self.members:
            member.train()

    def loss(self, batch: GraphBatch | DenseBatch, target: torch.Tensor, lam: float,
             temperature: float, learns: torch.Tensor | None = None) -> tuple[torch.Tensor, float, float]:
        """(sum over members of their losses, mean MSE term, mean rank term) for one batch.

        ``learns`` [K, B] (None: all true): which of the batch's graphs each member learns from; the others
        (the rows it holds out, :func:`core.predictor.train.member_folds`) still pass through its layers,
        BatchNorm's batch statistics included (their features, never their targets), but not into its loss.
        """
        if not self.vectorised:
            total, mse_sum, rank_sum = 0.0, 0.0, 0.0
            for k, member in enumerate(self.members):
                if learns is not None and not bool(learns[k].any()):
                    continue  # every graph of the batch is one this member holds out (the MSE of none is NaN)
                out = member(batch)
                rows = slice(None) if learns is None else learns[k]
                loss, mse, rank = magnitude_ranked_loss(out.prediction[rows], target[rows],
                                                        [g[rows] for g in out.graph_embeddings], lam, temperature)
                total, mse_sum, rank_sum = total + loss, mse_sum + mse.item(), rank_sum + rank.item()
            k = len(self.members)
            return total, mse_sum / k, rank_sum / k
        if self.stacked_settings is not None and isinstance(batch, DenseBatch):
            prediction, norms = stacked_forward(self.params, self.buffers, batch, **self.stacked_settings)
        else:
            prediction, norms = vmap(self._forward, in_dims=(0, 0, None))(self.params, self.buffers, batch)
        k, hops, b = norms.shape
        if learns is None:
            mse = (prediction - target).square().mean(dim=1)  # [K]
            if lam == 0.0 or target.numel() < 3:
                rank = torch.zeros_like(mse)
            else:
                rank = (1.0 - soft_spearman(target, norms.reshape(k * hops, b), temperature)).reshape(k, hops).mean(1)
        else:
            weight = learns.to(prediction.dtype)
            mse = ((prediction - target).square() * weight).sum(dim=1) / weight.sum(dim=1).clamp_min(1.0)
            # Each member ranks only the rows it learns from (the ranks of a subset are not a slice of all ranks).
            rank = (1.0 - masked_soft_spearman(target, norms, learns, temperature)).mean(1) if lam != 0.0 \
                else torch.zeros_like(mse)
        return (mse + lam * rank).sum(), mse.mean().item(), rank.mean().item()

    def _forward(self, params: dict, buffers: dict, batch: GraphBatch | DenseBatch):
        out = functional_call(self._base, (params, buffers), (batch,))
        norms = torch.stack([g.abs().sum(dim=1) for g in out.graph_embeddings])  # [H, B]
        return out.prediction, norms

    @torch.no_grad()
    def sync(self) -> None:
        """Write the stacked weights and BatchNorm statistics back into the member modules."""
        if not self.vectorised:
            return
        for k, member in enumerate(self.members):
            state = {name: value[k] for name, value in {**self.params, **self.buffers}.items()}
            member.load_state_dict(state, strict=False)
