"""Graphs encoded once, batched by index: the fast path for training and scoring.

Collating ``torch_geometric`` ``Data`` objects with ``Batch.from_data_list`` every epoch dominates
the training time on small graphs. Instead every graph is encoded once into flat tensors with
per-graph offsets, and a batch of any graph ids is gathered with a handful of vectorised ops.

Layout for G graphs with N nodes and E edges in total:
    x_cat [N, C] long, x_num [N, M] float, edge_local [2, E] long (node ids local to their graph),
    node_ptr [G + 1], edge_ptr [G + 1] (graph g owns nodes node_ptr[g]:node_ptr[g+1]).

Bounded graphs (at most :data:`DENSE_MAX_NODES` nodes, as in every shipped space) are batched
*densely*: a batch of B graphs of at most n nodes carries an adjacency [B, n, n] (``adj[b, dst, src]``
counts the edges src -> dst), so every GNN layer is a batched matmul (:class:`DenseBatch`,
:mod:`core.predictor.dense`, :mod:`core.predictor.gatv2_block`). Each graph's adjacency is kept ready
when the store is small enough (:data:`DENSE_CACHE_ENTRIES`) and built per batch otherwise.
:meth:`EncodedGraphs.model_batch` gives the model the dense form for such graphs and the PyG form for
larger ones (or for every graph when the store is made with ``dense=False``); the two agree within
float rounding (tests/predictor/test_dense.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from core.features import FeatureSchema
from core.graph import ArchGraph

#: Graphs with at most this many nodes are batched densely (padded [B, n, n] adjacency); larger ones
#: use the sparse PyG path, whose cost grows with the edges rather than with n squared.
DENSE_MAX_NODES = 64

#: A store keeps every graph's [n, n] adjacency (and its mean form) ready when there are at most this many
#: entries in all (32 MB each: every shipped table and the OFA unit candidates); a larger pool, such as
#: 884,736 SD U-Nets of 34 nodes (4 GB), has its batches' adjacency built from the edge lists instead.
DENSE_CACHE_ENTRIES = 2**23


@dataclass
class GraphBatch:
    """A batch ready for :class:`~core.predictor.model.AutoBuildPredictor`.

    x_cat [n, C], x_num [n, M], edge_index [2, e] (batch-global node ids), batch [n] (graph of each
    node, 0..num_graphs-1), num_graphs.
    """

    x_cat: torch.Tensor
    x_num: torch.Tensor
    edge_index: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    def to(self, device: torch.device | str) -> "GraphBatch":
        return GraphBatch(self.x_cat.to(device), self.x_num.to(device), self.edge_index.to(device),
                          self.batch.to(device), self.num_graphs)


@dataclass
class DenseBatch:
    """A padded batch of B bounded graphs of at most n nodes (n: the largest graph of the batch).

    x_cat [N, C] long, x_num [N, M] float (the N real nodes, graph-major: the PyG path's node order),
    adj [B, n, n] float (``adj[b, dst, src]`` = number of edges src -> dst), mean_adj [B, n, n]
    (``adj`` divided by each row's in-degree, rows without predecessors 0), real [N] long (the
    padded slot b*n + v of every real node), node_counts [B] float; full: no slot is padding
    (every graph has n nodes, as in NAS-Bench-201), so padding and unpadding are plain views.
    """

    x_cat: torch.Tensor
    x_num: torch.Tensor
    adj: torch.Tensor
    mean_adj: torch.Tensor
    real: torch.Tensor
    node_counts: torch.Tensor
    full: bool = False

    @property
    def num_graphs(self) -> int:
        return int(self.adj.shape[0])

    @property
    def max_nodes(self) -> int:
        return int(self.adj.shape[1])

    def to(self, device: torch.device | str) -> "DenseBatch":
        return DenseBatch(self.x_cat.to(device), self.x_num.to(device), self.adj.to(device),
                          self.mean_adj.to(device), self.real.to(device), self.node_counts.to(device), self.full)


class EncodedGraphs:
    """All graphs of a table, encoded once against a schema; ``batch(ids)`` gathers any subset."""

    def __init__(self, graphs: Sequence[ArchGraph], schema: FeatureSchema,
                 progress: Callable[[int, int], None] | None = None, dense: bool = True) -> None:
        if not graphs:
            raise ValueError("no graphs to encode")
        self.schema = schema
        # Plain lists first and one tensor each at the end: a tensor per graph cost more than the encoding.
        cats: list[list[int]] = []
        nums: list[list[float]] = []
        sources: list[int] = []
        targets: list[int] = []
        n_nodes, n_edges = [], []
        encoded: dict[tuple, tuple[list[int], list[float]]] = {}  # spaces repeat the same nodes a lot
        for i, g in enumerate(graphs):
            for node in g.nodes:
                try:
                    key = tuple(node.items())
                    c, m = encoded[key]
                except KeyError:
                    c, m = encoded[key] = schema.encode_node(node)
                except TypeError:  # an unhashable value: encode without the memo
                    c, m = schema.encode_node(node)
                cats.append(c)
                nums.append(m)
            for src, dst in g.edges:
                sources.append(src)
                targets.append(dst)
            n_nodes.append(g.num_nodes)
            n_edges.append(len(g.edges))
            if progress is not None and (i + 1) % 1000 == 0:
                progress(i + 1, len(graphs))
        total = len(cats)
        self.x_cat = torch.tensor(cats, dtype=torch.long).reshape(total, len(schema.categorical))
        self.x_num = torch.tensor(nums, dtype=torch.float32).reshape(total, len(schema.numeric))
        self.edge_local = torch.tensor([sources, targets], dtype=torch.long).reshape(2, len(sources))
        self.node_counts = torch.tensor(n_nodes, dtype=torch.long)
        self.edge_counts = torch.tensor(n_edges, dtype=torch.long)
        self.node_ptr = torch.cat([torch.zeros(1, dtype=torch.long), self.node_counts.cumsum(0)])
        self.edge_ptr = torch.cat([torch.zeros(1, dtype=torch.long), self.edge_counts.cumsum(0)])
        self.max_nodes = int(self.node_counts.max())
        self.same_size = int(self.node_counts.min()) == self.max_nodes
        #: Batches for the model are dense: allowed, and every graph has at most DENSE_MAX_NODES nodes.
        self.dense = dense and self.max_nodes <= DENSE_MAX_NODES
        self._adj_cache: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.dense and len(self) * self.max_nodes ** 2 <= DENSE_CACHE_ENTRIES:
            self._adj_cache = self._adjacency(torch.arange(len(self)), self.max_nodes)

    def __len__(self) -> int:
        return int(self.node_counts.numel())

    @staticmethod
    def _ranges(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Concatenation of ``arange(s, s + c)`` for every (s, c), vectorised."""
        total = int(counts.sum())
        offsets = torch.cumsum(counts, 0) - counts  # start of each range in the output
        within = torch.arange(total) - torch.repeat_interleave(offsets, counts)
        return torch.repeat_interleave(starts, counts) + within

    def model_batch(self, ids: torch.Tensor) -> GraphBatch | DenseBatch:
        """Graphs ``ids`` batched for the model: densely for a dense store, else for PyG."""
        return self.dense_batch(ids) if self.dense else self.batch(ids)

    def dense_batch(self, ids: torch.Tensor) -> DenseBatch:
        """Gather graphs ``ids`` (1-D long tensor) into one padded batch, in that order."""
        if not self.dense:
            raise ValueError(f"graphs of up to {self.max_nodes} nodes are not batched densely "
                             f"(at most {DENSE_MAX_NODES})")
        ids = ids.to(torch.long)
        counts = self.node_counts[ids]
        b = ids.numel()
        if self.same_size:  # every graph has max_nodes nodes (NAS-Bench-201, the OFA spaces): no padding
            n, full = self.max_nodes, True
            x_cat = self.x_cat.view(len(self), n, self.x_cat.shape[1])[ids].view(b * n, self.x_cat.shape[1])
            x_num = self.x_num.view(len(self), n, self.x_num.shape[1])[ids].view(b * n, self.x_num.shape[1])
            real = torch.arange(b * n)
        else:
            n = int(counts.max())
            full = int(counts.min()) == n
            nodes = self._ranges(self.node_ptr[ids], counts)
            x_cat, x_num = self.x_cat[nodes], self.x_num[nodes]
            real = self._ranges(torch.arange(b) * n, counts)
        if self._adj_cache is None:
            adj, mean_adj = self._adjacency(ids, n)
        else:
            adj, mean_adj = (m[ids, :n, :n] for m in self._adj_cache)
        return DenseBatch(x_cat, x_num, adj, mean_adj, real, counts.to(torch.float32), full)

    def _adjacency(self, ids: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """adj [B, n, n] (``adj[b, dst, src]`` counts the edges src -> dst of graph ``ids[b]``) and adj with
        every row divided by its in-degree (rows without predecessors stay 0)."""
        edge_counts = self.edge_counts[ids]
        local = self.edge_local[:, self._ranges(self.edge_ptr[ids], edge_counts)]
        flat = torch.repeat_interleave(torch.arange(ids.numel()) * (n * n), edge_counts) + local[1] * n + local[0]
        adj = torch.zeros(ids.numel() * n * n).index_put_((flat,), torch.ones(flat.numel()), accumulate=True)
        adj = adj.view(ids.numel(), n, n)
        return adj, adj / adj.sum(-1, keepdim=True).clamp(min=1.0)

    def batch(self, ids: torch.Tensor) -> GraphBatch:
        """Gather graphs ``ids`` (1-D long tensor) into one PyG-style batch, in that order."""
        ids = ids.to(torch.long)
        node_counts = self.node_counts[ids]
        edge_counts = self.edge_counts[ids]
        node_idx = self._ranges(self.node_ptr[ids], node_counts)
        edge_idx = self._ranges(self.edge_ptr[ids], edge_counts)
        new_starts = torch.cumsum(node_counts, 0) - node_counts
        edge_index = self.edge_local[:, edge_idx] + torch.repeat_interleave(new_starts, edge_counts)
        batch = torch.repeat_interleave(torch.arange(ids.numel()), node_counts)
        return GraphBatch(self.x_cat[node_idx], self.x_num[node_idx], edge_index, batch, int(ids.numel()))
