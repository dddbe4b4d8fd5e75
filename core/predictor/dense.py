"""The GNN layers on padded dense batches: every message-passing step is one batched matmul.

For bounded graphs (:class:`~core.predictor.batching.DenseBatch`) a batch of B graphs of at most n
nodes has adjacency A [B, n, n] (``A[b, dst, src]`` = edges src -> dst). With node states kept flat
h [N, d] (real nodes only, as the PyG path keeps them) and scattered to H [B, n, d] (zeros in padded
slots), the layers of :mod:`core.predictor.model` compute, with the *same* PyG modules and weights:

    GraphConv (mean):  out = lin_rel((A / max(deg_in, 1)) H) + lin_root(h)
    GIN:               out = nn(A H + (1 + eps) h)
    GATv2 (1 head):    e[b,i,j] = att . leaky_relu(lin_r(h)_i + lin_l(h)_j), j in pred(i) + {i}
                       (computed for those pairs only, -inf elsewhere)
                       out = softmax_j(e) lin_l(H) + bias

then gather the real nodes back to [N, d]. The sums run in another order than PyG's scatter, so the
two paths agree within float tolerance (tests/predictor/test_dense.py), not bit for bit.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATv2Conv, GINConv, GraphConv

from core.predictor.batching import DenseBatch


class DenseGraphs:
    """One dense batch's structure, with the adjacency operators its layers need computed once."""

    def __init__(self, batch: DenseBatch) -> None:
        self.batch = batch
        self.real = batch.real
        self.b, self.n = batch.num_graphs, batch.max_nodes
        self.adj = batch.adj
        #: A row-normalised by in-degree [B, n, n] (rows of nodes without predecessors stay 0).
        self.mean_adj = batch.mean_adj
        self._pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @property
    def attention_pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Who attends to whom: every node's predecessors and itself (padded slots: only themselves),
        as (flat index b*n*n + i*n + j [P], target slot b*n + i [P], source slot b*n + j [P])."""
        if self._pairs is None:
            eye = torch.eye(self.n, dtype=torch.bool, device=self.adj.device)
            flat = ((self.adj > 0) | eye).reshape(-1).nonzero().squeeze(1)
            graph, within = flat // (self.n * self.n), flat % (self.n * self.n)
            self._pairs = (flat, graph * self.n + within // self.n, graph * self.n + within % self.n)
        return self._pairs

    @property
    def attention_rows(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The same pairs as the fused GATv2 layer (:mod:`core.predictor.gatv2_block`) reads them: (slot
        b*n*n + j*n + i of pair (i, j) in the transposed score layout [B, n_j, n_i] [P], row 2 (b*n + i) + 1
        of the target and row 2 (b*n + j) of the source in the interleaved states [2 B n, C] [P])."""
        if self._rows is None:
            _, target, source = self.attention_pairs
            n = self.n
            self._rows = ((target // n) * n * n + (source % n) * n + target % n, 2 * target + 1, 2 * source)
        return self._rows

    def scatter(self, h: torch.Tensor) -> torch.Tensor:
        """Real-node states h [N, d] -> padded H [B, n, d], zeros in the padded slots."""
        if self.batch.full:
            return h.view(self.b, self.n, h.shape[1])
        out = h.new_zeros(self.b * self.n, h.shape[1]).index_copy(0, self.real, h)
        return out.view(self.b, self.n, h.shape[1])

    def gather(self, dense: torch.Tensor) -> torch.Tensor:
        """Padded [B, n, d] -> real nodes [N, d]."""
        if self.batch.full:
            return dense.reshape(self.b * self.n, dense.shape[-1])
        return dense.reshape(self.b * self.n, dense.shape[-1]).index_select(0, self.real)

    def mean_pool(self, dense: torch.Tensor) -> torch.Tensor:
        """Mean over each graph's real nodes of H [B, n, d] (padded slots are zero) -> [B, d]."""
        return dense.sum(1) / self.batch.node_counts.unsqueeze(1)


def _graphconv(conv: GraphConv, h: torch.Tensor, dense: torch.Tensor, graphs: DenseGraphs) -> torch.Tensor:
    aggregated = graphs.gather(torch.bmm(graphs.mean_adj, dense))
    return conv.lin_rel(aggregated) + conv.lin_root(h)


def _gin(conv: GINConv, h: torch.Tensor, dense: torch.Tensor, graphs: DenseGraphs) -> torch.Tensor:
    aggregated = graphs.gather(torch.bmm(graphs.adj, dense))
    return conv.nn(aggregated + (1 + conv.eps) * h)


def _gatv2(conv: GATv2Conv, h: torch.Tensor, dense: torch.Tensor, graphs: DenseGraphs) -> torch.Tensor:
    if conv.heads != 1 or conv.lin_edge is not None or conv.res is not None:
        raise ValueError("the dense GATv2 path supports one head, no edge features and no residual")
    flat, target_slot, source_slot = graphs.attention_pairs
    source = graphs.scatter(conv.lin_l(h))  # [B, n, C]: what a node sends
    target = graphs.scatter(conv.lin_r(h))  # [B, n, C]: what a node attends with
    channels = source.shape[-1]
    # Scores only for the pairs that attend (predecessors and self), not all n^2 of them.
    pair = F.leaky_relu(target.reshape(-1, channels).index_select(0, target_slot)
                        + source.reshape(-1, channels).index_select(0, source_slot), conv.negative_slope)
    scores = (pair * conv.att.view(1, -1)).sum(-1)  # [P]
    logits = scores.new_full((graphs.b * graphs.n * graphs.n,), float("-inf")).index_copy(0, flat, scores)
    alpha = torch.softmax(logits.view(graphs.b, graphs.n, graphs.n), dim=-1)
    alpha = F.dropout(alpha, p=conv.dropout, training=conv.training)
    out = graphs.gather(torch.bmm(alpha, source))
    return out + conv.bias if conv.bias is not None else out


#: The dense form of each PyG layer type the predictor uses, by class (never resolved by name).
DENSE_LAYERS: dict[type, Callable[..., torch.Tensor]] = {
    GraphConv: _graphconv,
    GINConv: _gin,
    GATv2Conv: _gatv2,
}


def dense_layer(conv: nn.Module, h: torch.Tensor, dense: torch.Tensor, graphs: DenseGraphs) -> torch.Tensor:
    """``conv`` applied to real-node states h [N, d_in] (padded form ``dense`` [B, n, d_in]) -> [N, d_out]."""
    layer = DENSE_LAYERS.get(type(conv))
    if layer is None:
        raise ValueError(f"no dense form of {type(conv).__name__}")
    return layer(conv, h, dense, graphs)
