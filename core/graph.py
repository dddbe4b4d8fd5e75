"""Architectures as graphs: :class:`ArchGraph`, its topological order and module signatures.

AutoBuild (Mills et al., CVPR 2024) treats every architecture as a DAG whose nodes are operations or
blocks. Each node carries *categorical* features (op type, stage, kernel, ...) and *numeric* ones
(channels, resolution). The FE-MLP gives every feature its own embedding, so the space declares its
features once in a :class:`FeatureSchema` (:mod:`core.features`).

A *module* is a rooted subgraph: a node together with everything that reaches it within ``h`` hops
against the data flow. That is exactly the receptive field of the node after ``h`` rounds of message
passing along the directed edges, so the node's hop-``h`` embedding *is* the module's embedding. The
canonical signature of a module is the hash of its in-tree unfolding (a Weisfeiler-Lehman style
refinement), so two structurally identical modules have the same signature in any architecture.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from core.errors import SpecError
from core.features import (
    FeatureSchema,
    category_value,
)

if TYPE_CHECKING:  # torch is imported where tensors are made, so the CLI's help does not wait for it
    import torch

@dataclass
class ArchGraph:
    """One architecture as a directed acyclic graph.

    Attributes:
        nodes: one feature dict per node (feature name -> value).
        edges: directed ``(src, dst)`` pairs in data-flow order.
        spec: the canonical spec string of the architecture in its space.
        labels: a short readable name per node (e.g. ``"gcn"``, ``"s3 e6k5"``); defaults to the
            categorical feature values joined by spaces.
        metrics: optional measured metrics (column -> value).
    """

    nodes: list[dict[str, Any]]
    edges: list[tuple[int, int]]
    spec: str = ""
    labels: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.nodes)
        if n == 0:
            raise SpecError("an architecture needs at least one node")
        self.edges = [(int(s), int(d)) for s, d in self.edges]
        for s, d in self.edges:
            if not (0 <= s < n and 0 <= d < n):
                raise SpecError(f"edge ({s}, {d}) refers to a node outside 0..{n - 1}")
            if s == d:
                raise SpecError(f"edge ({s}, {d}) is a self-loop")
        if not self.labels:
            self.labels = [" ".join(category_value(v) for k, v in sorted(node.items()) if isinstance(v, str)) or str(i)
                           for i, node in enumerate(self.nodes)]
        elif len(self.labels) != n:
            raise ValueError("labels must have one entry per node")
        self._preds: list[list[int]] = [[] for _ in range(n)]
        for s, d in self.edges:
            self._preds[d].append(s)
        self._order: list[int] | None = None

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def predecessors(self, node: int) -> list[int]:
        return self._preds[node]

    @property
    def topological_order(self) -> list[int]:
        """Every node after all its predecessors (the one order every caller uses; computed once).

        Raises :class:`SpecError` if the edges contain a cycle.
        """
        if self._order is None:
            self._order = topological_order(self.num_nodes, self.edges)
        return self._order

    # ----------------------------------------------------------------- tensors
    def encode(self, schema: FeatureSchema) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tensors of this graph: ``x_cat`` [N, C] long, ``x_num`` [N, M] float, ``edge_index`` [2, E] long."""
        import torch

        cats, nums = [], []
        for node in self.nodes:
            c, m = schema.encode_node(node)
            cats.append(c)
            nums.append(m)
        n = self.num_nodes
        x_cat = torch.tensor(cats, dtype=torch.long).reshape(n, len(schema.categorical))
        x_num = torch.tensor(nums, dtype=torch.float32).reshape(n, len(schema.numeric))
        edge_index = torch.tensor(self.edges, dtype=torch.long).reshape(-1, 2).t().contiguous()
        return x_cat, x_num, edge_index

    # ----------------------------------------------------------------- modules
    def signatures(self, max_hops: int) -> list[list[str]]:
        """Module signatures ``sig[h][v]`` for every hop ``0..max_hops`` and node ``v``.

        ``sig[0][v]`` hashes the node's features; ``sig[h][v]`` hashes ``sig[0][v]`` with the sorted
        multiset of ``sig[h-1][u]`` over predecessors ``u``: the canonical form of the in-tree of depth
        ``h``, independent of node numbering and of the architecture the module sits in.
        """
        base = [_digest(repr(sorted((k, category_value(v)) for k, v in node.items()))) for node in self.nodes]
        levels = [base]
        for _ in range(max_hops):
            prev = levels[-1]
            levels.append([
                _digest(base[v] + "<" + ",".join(sorted(prev[u] for u in self._preds[v])))
                for v in range(self.num_nodes)
            ])
        return levels

    def module_description(self, root: int, hops: int) -> str:
        """Readable form of a module, e.g. ``gcn <- gat <- input`` or ``sum <- (conv3x3 <- input, input)``."""
        label = self.labels[root]
        preds = self._preds[root]
        if hops == 0 or not preds:
            return label
        parts = sorted(self.module_description(p, hops - 1) for p in preds)
        if len(parts) == 1:
            return f"{label} <- {parts[0]}"
        return f"{label} <- (" + ", ".join(parts) + ")"

    def to_json_dict(self) -> dict[str, Any]:
        """The generic ``graph`` space's JSON form of this architecture."""
        return {"nodes": [dict(n) for n in self.nodes], "edges": [list(e) for e in self.edges]}


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def topological_order(num_nodes: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Nodes ``0..num_nodes-1`` with every edge's source before its destination (Kahn's algorithm).

    Raises :class:`SpecError` if the edges contain a cycle.
    """
    indeg = [0] * num_nodes
    out: list[list[int]] = [[] for _ in range(num_nodes)]
    for s, d in edges:
        out[s].append(d)
        indeg[d] += 1
    ready = [v for v in range(num_nodes) if indeg[v] == 0]
    order: list[int] = []
    while ready:
        v = ready.pop()
        order.append(v)
        for d in out[v]:
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    if len(order) != num_nodes:
        raise SpecError("the edges contain a cycle; an architecture must be a DAG")
    return order


def check_dag(num_nodes: int, edges: Sequence[tuple[int, int]]) -> None:
    """Raise :class:`SpecError` if the edges contain a cycle."""
    topological_order(num_nodes, edges)
