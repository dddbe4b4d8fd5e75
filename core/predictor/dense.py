"""The GNN layers on padded dense batches: every message-passing step is one batched matmul.

For bounded graphs (:class:`~core.predictor.batching.DenseBatch`) a batch of B graphs of at most n
nodes has adjacency A [B, n, n] (``A[b, dst, src]`` = edges src -> dst). With node states kept flat
h [N, d] (real nodes only, as the PyG path keeps them) and scattered to H [B, n, d] (zeros in padded
slots), the layers of :mod:`core.predictor.model` compute, with the *same* PyG modules and weights:

    GraphConv (mean):  out = lin_rel((A / max(deg_in, 1)) H) + lin_root(h)
    GIN:               out = nn(A H + (1 + eps) h)

then gather the real nodes back to [N, d]. The sums run in another order than PyG's scatter, so the
two paths agree within float tolerance (tests/predictor/test_dense.py), not bit for bit. GATv2 runs
on the same batches as one fused layer (:mod:`core.predictor.gatv2_block`), which reads
:attr:`DenseGraphs.attention_rows`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch_geometric.nn import GINConv, GraphConv

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
        self._rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @property
    def attention_rows(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Who attends to whom, as the fused GATv2 layer (:mod:`core.predictor.gatv2_block`) reads it: the P
        pairs (i, j) with j a predecessor of i or i itself (padded slots: only themselves), as (slot
        b*n*n + j*n + i of the pair in the transposed score layout [B, n_j, n_i] [P], row 2 (b*n + i) + 1 of
        the target and row 2 (b*n + j) of the source in the interleaved states [2 B n, C] [P])."""
        if self._rows is None:
            n = self.n
            eye = torch.eye(n, dtype=torch.bool, device=self.adj.device)
            flat = ((self.adj > 0) | eye).reshape(-1).nonzero().squeeze(1)  # b*n*n + i*n + j
            graph, within = flat // (n * n), flat % (n * n)
            target, source = graph * n + within // n, graph * n + within % n
            self._rows = (graph * n * n + (within % n) * n + within // n, 2 * target + 1, 2 * source)
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


#: The dense form of each PyG layer type the predictor uses, by class (never resolved by name).
DENSE_LAYERS: dict[type, Callable[..., torch.Tensor]] = {
    GraphConv: _graphconv,
    GINConv: _gin,
}


def dense_layer(conv: nn.Module, h: torch.Tensor, dense: torch.Tensor, graphs: DenseGraphs) -> torch.Tensor:
    """``conv`` applied to real-node states h [N, d_in] (padded form ``dense`` [B, n, d_in]) -> [N, d_out]."""
    layer = DENSE_LAYERS.get(type(conv))
    if layer is None:
        raise ValueError(f"no dense form of {type(conv).__name__}")
    return layer(conv, h, dense, graphs)
