"""Graphs encoded once, batched by index: the fast path for training and scoring.

Collating ``torch_geometric`` ``Data`` objects with ``Batch.from_data_list`` every epoch dominates
the training time on small graphs. Instead every graph is encoded once into flat tensors with
per-graph offsets, and a batch of any graph ids is gathered with a handful of vectorised ops.

Layout for G graphs with N nodes and E edges in total:
    x_cat [N, C] long, x_num [N, M] float, edge_local [2, E] long (node ids local to their graph),
    node_ptr [G + 1], edge_ptr [G + 1] (graph g owns nodes node_ptr[g]:node_ptr[g+1]).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from core.graph import ArchGraph, FeatureSchema


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


class EncodedGraphs:
    """All graphs of a table, encoded once against a schema; ``batch(ids)`` gathers any subset."""

    def __init__(self, graphs: Sequence[ArchGraph], schema: FeatureSchema,
                 progress: Callable[[int, int], None] | None = None) -> None:
        if not graphs:
            raise ValueError("no graphs to encode")
        self.schema = schema
        cats, nums, edges, n_nodes, n_edges = [], [], [], [], []
        for i, g in enumerate(graphs):
            x_cat, x_num, edge_index = g.encode(schema)
            cats.append(x_cat)
            nums.append(x_num)
            edges.append(edge_index)
            n_nodes.append(g.num_nodes)
            n_edges.append(edge_index.shape[1])
            if progress is not None and (i + 1) % 1000 == 0:
                progress(i + 1, len(graphs))
        self.x_cat = torch.cat(cats)
        self.x_num = torch.cat(nums)
        self.edge_local = torch.cat(edges, dim=1)
        self.node_counts = torch.tensor(n_nodes, dtype=torch.long)
        self.edge_counts = torch.tensor(n_edges, dtype=torch.long)
        self.node_ptr = torch.cat([torch.zeros(1, dtype=torch.long), self.node_counts.cumsum(0)])
        self.edge_ptr = torch.cat([torch.zeros(1, dtype=torch.long), self.edge_counts.cumsum(0)])

    def __len__(self) -> int:
        return int(self.node_counts.numel())

    @staticmethod
    def _ranges(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Concatenation of ``arange(s, s + c)`` for every (s, c), vectorised."""
        total = int(counts.sum())
        offsets = torch.cumsum(counts, 0) - counts  # start of each range in the output
        within = torch.arange(total) - torch.repeat_interleave(offsets, counts)
        return torch.repeat_interleave(starts, counts) + within

    def batch(self, ids: torch.Tensor) -> GraphBatch:
        """Gather graphs ``ids`` (1-D long tensor) into one batch, in that order."""
        ids = ids.to(torch.long)
        node_counts = self.node_counts[ids]
        edge_counts = self.edge_counts[ids]
        node_idx = self._ranges(self.node_ptr[ids], node_counts)
        edge_idx = self._ranges(self.edge_ptr[ids], edge_counts)
        new_starts = torch.cumsum(node_counts, 0) - node_counts
        edge_index = self.edge_local[:, edge_idx] + torch.repeat_interleave(new_starts, edge_counts)
        batch = torch.repeat_interleave(torch.arange(ids.numel()), node_counts)
        return GraphBatch(self.x_cat[node_idx], self.x_num[node_idx], edge_index, batch, int(ids.numel()))
