"""The pool a module-based build chooses from, encoded once, and its cells' scores.

A space without units (NAS-Bench-Graph, NAS-Bench-201, user graphs) is built from whole cells: the
pool is the whole space when it can be enumerated (encoded once per process and schema, so every
build, search and score of a run reuses it), else the training table and its one-step mutations.
A cell is scored at its sinks (or by its graph embedding), see :meth:`CellPool.cell_scores`.
"""
from __future__ import annotations

import functools
import json
from typing import Sequence

import numpy as np

from core.building.config import MAX_POOL, BuildConfig
from core.features import FeatureSchema
from core.gc_pause import cycle_collector_paused
from core.graph import ArchGraph
from core.predictor.batching import EncodedGraphs
from core.runs.run import Run
from core.scoring.modules import trusted_node_scores, trusted_scores_from_norms
from core.spaces import get_space
from core.spaces.base import SearchSpace
from core.spaces.lookup_dataset import evaluated_architectures


def position_of(node: dict) -> tuple:
    """A node's position: its features other than ``op`` (sorted, so it is hashable and stable)."""
    return tuple(sorted((k, str(v)) for k, v in node.items() if k != "op"))


def _node_keys(graphs: Sequence[ArchGraph]) -> list[tuple[tuple, str]]:
    """(position, op) of every node of ``graphs``, in order; each distinct node is keyed once."""
    keys: dict[tuple, tuple[tuple, str]] = {}
    out = []
    for g in graphs:
        for node in g.nodes:
            try:
                items = tuple(node.items())
                key = keys[items]
            except KeyError:
                key = keys[items] = (position_of(node), str(node.get("op", "")))
            except TypeError:  # an unhashable value: no memo
                key = (position_of(node), str(node.get("op", "")))
            out.append(key)
    return out


def build_pool(run: Run, space: SearchSpace, rng_seed: int = 0, mutations: int = BuildConfig.pool_mutations
               ) -> list[str]:
    """Architectures the module-based build chooses from: the space, or the table and ``mutations``
    one-step neighbours of each of its architectures."""
    if space.enumerable and (space.size() or 0) <= MAX_POOL:
        return list(space.enumerate())
    specs = list(dict.fromkeys(run.table()["arch"].astype(str)))
    neighbours = []
    if space.can_sample:
        rng = np.random.default_rng(rng_seed)
        neighbours = [space.mutate(s, rng) for s in specs for _ in range(mutations)]
    return list(dict.fromkeys(specs + neighbours))[:MAX_POOL]


class CellPool:
    """A pool of architectures encoded once, ready to be scored as cells by any run of the space.

    Attributes: specs [A]; store (encoded graphs); sink_index / sink_arch (global node ids of every
    sink and the architecture each belongs to); depth [A] (longest path to a sink, in edges);
    node_keys ((position, op) of every node, store order); node_arch [nodes].
    """

    def __init__(self, space: SearchSpace, specs: Sequence[str], schema: FeatureSchema) -> None:
        with cycle_collector_paused():  # 3-4x faster with torch loaded; see core.gc_pause
            self._build(space, specs, schema)

    def _build(self, space: SearchSpace, specs: Sequence[str], schema: FeatureSchema) -> None:
        self.specs = list(specs)
        graphs = [space.to_graph(s) for s in self.specs]
        self.store = EncodedGraphs(graphs, schema)
        offsets = self.store.node_ptr[:-1].numpy()
        sink_index, sink_arch, depth = [], [], []
        for i, g in enumerate(graphs):
            sinks, d = cell_readout(g)
            sink_index += [offsets[i] + v for v in sinks]
            sink_arch += [i] * len(sinks)
            depth.append(d)
        self.sink_index = np.asarray(sink_index)
        self.sink_arch = np.asarray(sink_arch)
        self.depth = np.asarray(depth)
        self.node_arch = np.repeat(np.arange(len(graphs)), self.store.node_counts.numpy())
        self.node_keys = _node_keys(graphs)

    def __len__(self) -> int:
        return len(self.specs)

    def cell_scores(self, run: Run, readout: str = "sink", node_norms: np.ndarray | None = None) -> np.ndarray:
        """[A] score of each architecture's cell module.

        ``"sink"``: the standardised norm of its sinks at hop min(depth, L). ``"graph"``: its graph
        embedding's L1 norm at hop L, standardised over the pool (only the order matters). ``node_norms``
        [K, nodes, L+1]: the members' node norms over the pool when a pass already computed them (a build
        that also predicts, :func:`core.predictor.member_outputs.member_outputs`); the sink readout then
        runs no model.
        """
        if readout == "graph":
            norms = run.predict(self.store).hop_norms[:, -1]
            return (norms - norms.mean()) / (norms.std() or 1.0)
        per_node = trusted_node_scores(run, self.store) if node_norms is None \
            else trusted_scores_from_norms(run, node_norms)  # [nodes, L+1]
        hop = np.minimum(self.depth, run.hops)[self.sink_arch]
        sums = np.bincount(self.sink_arch, weights=per_node[self.sink_index, hop], minlength=len(self))
        return sums / np.bincount(self.sink_arch, minlength=len(self))


@functools.lru_cache(maxsize=4)
def _enumerated_pool(space_name: str, schema_json: str, dataset: str | None = None) -> CellPool:
    space = get_space(space_name)
    specs = evaluated_architectures(space, dataset) if dataset else None
    return CellPool(space, specs if specs is not None else list(space.enumerate()),
                    FeatureSchema.from_dict(json.loads(schema_json)))


def pool_for(run: Run, mutations: int = BuildConfig.pool_mutations) -> CellPool:
    """The whole space (encoded once per process and schema), or the part of it the run's look-up dataset
    evaluates when that is only part (:func:`core.spaces.lookup_dataset.evaluated_architectures`), or the
    table and its neighbours."""
    space = run.space
    if space.enumerable and (space.size() or 0) <= MAX_POOL:
        part = run.dataset if evaluated_architectures(space, run.dataset) is not None else None
        return _enumerated_pool(space.name, json.dumps(run.schema.to_dict(), sort_keys=True), part)
    return CellPool(space, build_pool(run, space, mutations=mutations), run.schema)


def cell_readout(graph: ArchGraph) -> tuple[list[int], int]:
    """The sink nodes of ``graph`` and the longest path (in edges) that ends at one of them."""
    has_succ = {s for s, _ in graph.edges}
    sinks = [v for v in range(graph.num_nodes) if v not in has_succ]
    longest = [0] * graph.num_nodes
    for v in graph.topological_order:
        for p in graph.predecessors(v):
            longest[v] = max(longest[v], longest[p] + 1)
    return sinks, max(longest[v] for v in sinks)
