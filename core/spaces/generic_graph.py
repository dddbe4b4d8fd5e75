"""The generic ``graph`` space: any user architecture written as a JSON DAG.

Spec string (the ``arch`` column of a table)::

    {"nodes": [{"op": "conv3x3", "channels": 64}, {"op": "relu"}], "edges": [[0, 1]]}

Rules, checked strictly by :meth:`GenericGraphSpace.canonical`:

* the spec is a JSON object with exactly the keys ``nodes`` and ``edges``;
* ``nodes`` is a non-empty list of flat objects whose values are strings, finite numbers or bools
  (no nested objects or lists, no NaN or infinity);
* every node has an ``op`` feature, a non-empty string: it names the operation and is the node's label;
* ``edges`` is a list of ``[src, dst]`` integer pairs in ``0..len(nodes)-1``, without self-loops or
  duplicates, forming a DAG (data flows from ``src`` to ``dst``).

The other features are not declared anywhere: :meth:`SearchSpace.schema` discovers them from the table
(strings and bools categorical, numbers numeric). The space is open, so it cannot sample, mutate or
enumerate.

Canonical form. Nodes are relabelled in a canonical topological order so that two specs that differ
only by node numbering give the same string: every node gets a Weisfeiler-Lehman colour refined over
predecessors *and* successors, then Kahn's algorithm repeatedly emits the ready node with the smallest
key ``(WL colour, sorted canonical positions of its predecessors)``. Limit: WL refinement cannot tell
apart some non-isomorphic regular structures, so where ready nodes tie on that key yet are not
automorphic, two numberings of one graph may still give two canonical strings; refinement also stops
after 32 rounds, so branches that differ only more than 32 hops away can tie the same way. The converse
never happens: different graphs never share a string, because the string spells out the whole graph.
Integral floats are written as ints (``64.0`` -> ``64``) so that one value has one spelling.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import math
from typing import Any

from core.errors import SpecError
from core.files.bounded_json import JsonInputError, load_json, reject_duplicate_keys
from core.graph import ArchGraph, check_dag
from core.spaces import register_space
from core.spaces.base import SearchSpace, parse_error

#: Bounds per architecture: the largest real conversions (ONNX exports of big CNNs and transformers)
#: have a few thousand operators; beyond these a spec is refused with one line instead of tying up a
#: worker for minutes.
MAX_NODES = 10_000
MAX_EDGES = 50_000
#: A spec's JSON text; 10,000 nodes with a few features each fit comfortably.
MAX_SPEC_CHARS = 2_000_000

#: WL rounds are capped so that long chains (ONNX conversions) stay linear-time; see the docstring.
_MAX_WL_ROUNDS = 32

#: Floats with a larger magnitude are kept as floats: beyond 2**53 not every integer is a float.
_EXACT_INT_LIMIT = 2.0**53

Nodes = list[dict[str, Any]]
Edges = list[tuple[int, int]]


@register_space
class GenericGraphSpace(SearchSpace):
    """Any DAG of operations written as ``{"nodes": [...], "edges": [...]}`` (see the module docstring)."""

    name = "graph"
    description = "Any architecture as a JSON DAG of operations with user-defined node features."

    def canonical(self, spec: str) -> str:
        nodes, edges = _canonical_order(*self._parse(spec))
        return _dump(nodes, edges)

    def to_graph(self, spec: str) -> ArchGraph:
        nodes, edges = _canonical_order(*self._parse(spec))
        return ArchGraph(nodes=nodes, edges=edges, spec=_dump(nodes, edges), labels=[n["op"] for n in nodes])

    # ------------------------------------------------------------- validation
    def _parse(self, spec: str) -> tuple[Nodes, Edges]:
        """Validate ``spec`` against the rules of the module docstring; return its nodes and edges."""
        if not isinstance(spec, str):
            raise parse_error(self.name, repr(spec), f"a spec must be a JSON string, not {type(spec).__name__}")
        if len(spec) > MAX_SPEC_CHARS:
            raise parse_error(self.name, spec, f"the spec is {len(spec):,} characters long; the limit is "
                              f"{MAX_SPEC_CHARS:,}")
        try:
            obj = load_json(spec, max_chars=MAX_SPEC_CHARS, object_pairs_hook=reject_duplicate_keys)
        except JsonInputError as err:
            raise parse_error(self.name, spec, str(err)) from None
        if not isinstance(obj, dict):
            raise parse_error(self.name, spec, f"expected a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - {"nodes", "edges"})
        if unknown:
            raise parse_error(self.name, spec, f"unknown key {unknown[0]!r}; only 'nodes' and 'edges' are allowed")
        for key in ("nodes", "edges"):
            if key not in obj:
                raise parse_error(self.name, spec, f"missing key {key!r}")
        nodes = self._parse_nodes(spec, obj["nodes"])
        edges = self._parse_edges(spec, obj["edges"], len(nodes))
        try:
            check_dag(len(nodes), edges)
        except SpecError as err:
            raise parse_error(self.name, spec, str(err)) from None
        return nodes, edges

    def _parse_nodes(self, spec: str, raw: Any) -> Nodes:
        if not isinstance(raw, list) or not raw:
            raise parse_error(self.name, spec, "'nodes' must be a non-empty list of objects")
        if len(raw) > MAX_NODES:
            raise parse_error(self.name, spec, f"{len(raw):,} nodes; an architecture may have at most {MAX_NODES:,}")
        nodes = []
        for i, node in enumerate(raw):
            if not isinstance(node, dict):
                raise parse_error(self.name, spec, f"node {i} is a {type(node).__name__}, not an object")
            op = node.get("op")
            if not isinstance(op, str) or not op:
                raise parse_error(self.name, spec, f"node {i} needs an 'op' feature that is a non-empty string")
            clean = {}
            for key, value in node.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise parse_error(self.name, spec, f"node {i} feature {key!r} is {value} (must be finite)")
                if not isinstance(value, (str, int, float, bool)):
                    kind = "null" if value is None else type(value).__name__
                    why = f"node {i} feature {key!r} is a {kind}; values must be strings, numbers or bools"
                    raise parse_error(self.name, spec, why)
                clean[key] = _normalise_number(value)
            nodes.append(dict(sorted(clean.items())))
        return nodes

    def _parse_edges(self, spec: str, raw: Any, num_nodes: int) -> Edges:
        if not isinstance(raw, list):
            raise parse_error(self.name, spec, "'edges' must be a list of [src, dst] pairs")
        if len(raw) > MAX_EDGES:
            raise parse_error(self.name, spec, f"{len(raw):,} edges; an architecture may have at most {MAX_EDGES:,}")
        edges: Edges = []
        seen = set()
        for j, edge in enumerate(raw):
            if not (isinstance(edge, list) and len(edge) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in edge)):
                raise parse_error(self.name, spec, f"edge {j} is {edge!r}, not a pair of integers")
            src, dst = edge
            if not (0 <= src < num_nodes and 0 <= dst < num_nodes):
                raise parse_error(self.name, spec, f"edge {j} {edge!r} is out of range 0..{num_nodes - 1}")
            if src == dst:
                raise parse_error(self.name, spec, f"edge {j} {edge!r} is a self-loop")
            if (src, dst) in seen:
                raise parse_error(self.name, spec, f"edge {j} {edge!r} is a duplicate")
            seen.add((src, dst))
            edges.append((src, dst))
        return edges


def _normalise_number(value: Any) -> Any:
    """Write integral floats as ints, so ``64.0`` and ``64`` canonicalise alike."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
        return int(value)
    return value


def _dump(nodes: Nodes, edges: Edges) -> str:
    return json.dumps({"nodes": nodes, "edges": [list(e) for e in edges]}, sort_keys=True, separators=(",", ":"))


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _adjacency(num_nodes: int, edges: Edges) -> tuple[list[list[int]], list[list[int]]]:
    """Predecessor and successor lists of every node."""
    preds: list[list[int]] = [[] for _ in range(num_nodes)]
    succs: list[list[int]] = [[] for _ in range(num_nodes)]
    for s, d in edges:
        succs[s].append(d)
        preds[d].append(s)
    return preds, succs


def _wl_colours(nodes: Nodes, edges: Edges) -> list[str]:
    """Weisfeiler-Lehman colours over predecessors and successors, refined until the partition is stable
    (or for ``_MAX_WL_ROUNDS`` rounds); the same graph gets the same colours under any numbering."""
    preds, succs = _adjacency(len(nodes), edges)
    colours = [_hash(json.dumps(n, sort_keys=True)) for n in nodes]
    classes = len(set(colours))
    # Each useful round splits a colour class, so N rounds always suffice; the cap trades that for speed.
    for _ in range(min(len(nodes), _MAX_WL_ROUNDS)):
        colours = [
            _hash(colours[v] + "<" + ",".join(sorted(colours[u] for u in preds[v]))
                  + ">" + ",".join(sorted(colours[u] for u in succs[v])))
            for v in range(len(nodes))
        ]
        if len(set(colours)) == classes:
            break
        classes = len(set(colours))
    return colours


def _canonical_order(nodes: Nodes, edges: Edges) -> tuple[Nodes, Edges]:
    """Relabel nodes in the canonical topological order of the module docstring; edges sorted.

    The ready nodes wait in a heap: a node's key is fixed once it is ready (all its predecessors are
    placed), so each node is pushed and popped once and the order costs O((N + E) log N), also for
    graphs of many isolated or identical nodes. Equal keys are broken by the input index, which only
    matters between nodes the key cannot tell apart.
    """
    colours = _wl_colours(nodes, edges)
    preds, succs = _adjacency(len(nodes), edges)
    indeg = [len(p) for p in preds]
    position: dict[int, int] = {}
    ready = [(colours[v], (), v) for v in range(len(nodes)) if indeg[v] == 0]
    heapq.heapify(ready)
    while ready:
        _, _, v = heapq.heappop(ready)
        position[v] = len(position)
        for d in succs[v]:
            indeg[d] -= 1
            if indeg[d] == 0:
                heapq.heappush(ready, (colours[d], tuple(sorted(position[p] for p in preds[d])), d))
    order = sorted(range(len(nodes)), key=position.__getitem__)
    new_edges = sorted((position[s], position[d]) for s, d in edges)
    return [nodes[v] for v in order], new_edges
