"""Building architectures from the best modules (docs/design.md 2.8), and the reduced search space.

Two builders, chosen by the space:

**Units** (the paper's method; spaces that declare units, e.g. MobileNet stages). Every candidate
configuration of a unit is scored as an isolated subgraph: the standardised L1 norm of its last
node's embedding, ``s = (||h_root^h||_1 - mu_h) / sigma_h``. By default (``unit_hop="unit"``) every
candidate of a unit is read at the unit's deepest hop, ``h = max depth - 1``, so a shorter candidate's
missing layers contribute nothing and candidates of different depths are compared on one hop; the
paper's ``h = depth - 1`` (``unit_hop="depth"``) suits GATv2, whose self-loops keep a lone node's norm
high (docs/design.md 2.8 has the measurements). The top ``k`` per unit are kept; their Cartesian
product is the reduced search space (size ``prod_u k_u``); its members are ranked by the sum of their
unit scores and the top ``N`` are assembled. Whole-architecture choices outside every unit (OFA's input
resolution) multiply the reduced space: the kept candidates are re-scored under each setting and the
setting is chosen with them by the summed score.

**Modules** (spaces without natural units: NAS-Bench-Graph, NAS-Bench-201, user graphs). Such a
space is one unit, the whole cell, so a candidate is a whole architecture and, as for units, it is
scored at its last node (the sink) at hop ``min(depth - 1, L)``: the module that covers the cell.
The choices inside the cell are (position, op) modules, where a node's *position* is its features
other than ``op`` (the edge in NAS-Bench-201, the depth in NAS-Bench-Graph). Over a pool (the whole
space when it can be enumerated, else the training table and its one-step mutations) each (position,
op) module is scored by the mean cell score of the pool architectures that contain it; per position
the ``k`` best ops are kept; the reduced space is the pool's architectures made only of kept modules,
ranked by cell score, and the top ``N`` are built. The regression head is not used to choose: it only
reports ``predicted``. A cell is scored by its covering module rather than by each node's own norm
because low-hop extremes are degenerate cells (all-skip in NAS-Bench-201).
``BuildConfig(cell_score="graph")`` scores a cell by its graph embedding's norm at hop L instead, what
the loss ranks directly (benchmarks/results/build_quality_*.md report both).
"""
from __future__ import annotations

import functools
import heapq
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from core.constraints import Constraint, satisfied
from core.errors import InputError
from core.graph import ArchGraph, FeatureSchema
from core.predictor.batching import EncodedGraphs
from core.runs import Run
from core.scoring import node_scores
from core.spaces import get_space
from core.spaces.base import SearchSpace, UnitCandidate

#: Most architectures a module-based build scores in its pool (the enumerated space or a sample).
MAX_POOL = 200_000


#: How the module build scores a whole cell (``BuildConfig.cell_score``).
CELL_SCORES = ("sink", "graph")

#: Which hop a unit candidate is read at (``BuildConfig.unit_hop``): ``"unit"``, the deepest hop of
#: its unit, so all candidates of a unit are compared at one hop (the default), or ``"depth"``, its
#: own ``depth - 1`` (the paper's). See the module docstring for why.
UNIT_HOPS = ("unit", "depth")


@dataclass(frozen=True)
class BuildConfig:
    """top: N, the number of architectures to build; k: candidates kept per unit (or per position);
    cell_score (module build only): ``"sink"``, the paper's unit readout (the last node at hop
    ``min(depth, L)``), or ``"graph"``, the graph embedding's L1 norm at hop L, the quantity the
    magnitude-ranked loss trains to rank architectures; unit_hop (unit build only): a key of
    :data:`UNIT_HOPS`; constraints: only reduced-space members whose metrics satisfy every one are
    built (core.constraints; looked up in the space's table, or measured where the space can)."""

    top: int = 4
    k: int = 3
    cell_score: str = "sink"
    unit_hop: str = "unit"
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        if not all(isinstance(c, Constraint) for c in self.constraints):
            raise ValueError(f"constraints must be Constraint objects, not {self.constraints!r}")
        if self.unit_hop not in UNIT_HOPS:
            raise ValueError(f"unit_hop must be one of {list(UNIT_HOPS)}, not {self.unit_hop!r}")
        if self.cell_score not in CELL_SCORES:
            raise ValueError(f"cell_score must be one of {list(CELL_SCORES)}, not {self.cell_score!r}")
        if not isinstance(self.top, int) or self.top < 1:
            raise ValueError(f"top must be a positive integer, not {self.top!r}")
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a positive integer, not {self.k!r}")


@dataclass
class BuildResult:
    """built: arch, score, predicted (+ true_<metric> and percentile when a look-up table ships);
    units: the kept top-k per unit or position (unit, rank, label, score); reduced_space_size;
    method: "units" or "modules"; reduced_specs: the reduced space when it was enumerated, best-ranked
    first (only the members that satisfy the constraints; ``reduced_space_size`` counts them all)."""

    built: pd.DataFrame
    units: pd.DataFrame
    reduced_space_size: int
    method: str
    notes: str = ""
    reduced_specs: list[str] = field(default_factory=list)


Progress = Callable[[str, float], None]


def build_architectures(run: Run, config: BuildConfig = BuildConfig(),
                        progress: Progress | None = None) -> BuildResult:
    """Build ``config.top`` architectures from the best modules of ``run``'s space."""
    report = progress or (lambda stage, fraction: None)
    space = run.space
    if space.units():
        result = _build_from_units(run, space, config, report)
    else:
        result = _build_from_modules(run, space, config, report)
    report("predicting", 0.95)
    graphs = [space.to_graph(spec) for spec in result.built["arch"]]
    result.built["predicted"] = run.predict(graphs).values if graphs else []
    _add_lookup(run, result.built)
    report("done", 1.0)
    return result


# ------------------------------------------------------------------------------------- units

def _root_scores(run: Run, candidates: Sequence[UnitCandidate], batch_size: int = 8192) -> np.ndarray:
    """Standardised norm of each candidate's root at every hop 0..L [C, L+1]."""
    scores = np.empty((len(candidates), run.hops + 1))
    for start in range(0, len(candidates), batch_size):
        chunk = candidates[start:start + batch_size]
        store = EncodedGraphs([c.graph for c in chunk], run.schema)
        per_node = node_scores(run, store)  # [nodes, L+1]
        roots = store.node_ptr[:-1].numpy() + np.array([c.root for c in chunk])
        scores[start:start + len(chunk)] = per_node[roots]
    return scores


def _build_from_units(run: Run, space: SearchSpace, config: BuildConfig, report: Progress) -> BuildResult:
    kept: list[list[tuple[float, UnitCandidate]]] = []
    hops: list[int | None] = []
    rows = []
    deepest = 0
    names = space.units()
    for u, unit in enumerate(names):
        report(f"scoring unit {unit}", 0.9 * u / len(names))
        best, unit_deepest, hop = _best_candidates(run, space.unit_candidates(unit), config.k, config.unit_hop)
        deepest = max(deepest, unit_deepest)
        kept.append(best)
        hops.append(hop)
        rows += [(unit, r + 1, cand.label, score) for r, (score, cand) in enumerate(best)]
    settings = _global_settings(space)
    size = math.prod(len(k) for k in kept) * len(settings)
    ranked = []
    # With constraints, many of the best combinations may fail them: rank more before filtering.
    depth = config.top * (50 if config.constraints else 4)
    for setting, kept_here in zip(settings, _rescore(run, space, kept, hops, settings)):
        ranked += [(total, combo, setting) for total, combo in _top_sums(kept_here, depth)]
    ranked.sort(key=lambda item: -item[0])  # stable: ties keep the order of the settings
    fits, how = _constraint_check(run, config.constraints)
    built_rows, seen = [], set()
    for total, combo, setting in ranked:
        spec = space.assemble({**{c.unit: c.choice for c in combo}, **setting})
        if spec in seen:
            continue
        seen.add(spec)
        if config.constraints and len(seen) % 10 == 0:
            report(f"checking limits: {len(seen)} checked, {len(built_rows)} fit", 0.92)
        if fits(spec):
            built_rows.append((spec, total))
        if len(built_rows) == config.top:
            break
    built = pd.DataFrame(built_rows, columns=["arch", "score"])
    read_at = ("each candidate read at hop = its depth - 1" if config.unit_hop == "depth"
               else "every candidate read at its unit's deepest hop")
    notes = f"top {config.k} of each of {len(names)} units ({read_at}); ranked by summed unit score"
    if len(settings) > 1:
        notes += f", over {len(settings)} settings of {', '.join(space.global_choices())}"
    if config.constraints:
        notes += (f"; subject to {', '.join(map(str, config.constraints))} ({how}): the built are the best "
                  f"{len(built_rows)} of the {len(seen)} best-ranked architectures checked")
    if deepest > run.hops:
        notes += (f"; the deepest candidates need hop {deepest} but the run has {run.hops} layers, so they "
                  f"were scored at hop {run.hops} (train with --layers {deepest} to cover whole units)")
    return BuildResult(built, pd.DataFrame(rows, columns=["unit", "rank", "label", "score"]), size, "units",
                       notes=notes)


def _best_candidates(run: Run, candidates: Iterable[UnitCandidate], k: int, unit_hop: str = "unit",
                     chunk: int = 8192) -> tuple[list[tuple[float, UnitCandidate]], int, int | None]:
    """The ``k`` best-scoring candidates, best first, the largest hop any candidate asked for, and
    the hop every candidate was read at (``None`` when each was read at its own depth).

    ``candidates`` are streamed in chunks (a merged ProxylessNAS unit has 66,339: only one chunk of
    graphs is held at a time). With ``unit_hop="unit"`` the hop is the unit's deepest, which is only
    known at the end, so the top ``k`` is kept for every hop and the right one returned. Ties keep
    the enumeration order.
    """
    best: dict[int | None, list[tuple[float, int, UnitCandidate]]] = {}
    deepest = 0
    candidates = iter(candidates)  # a list would restart at every islice
    for start in itertools.count(0, chunk):
        batch = list(itertools.islice(candidates, chunk))
        if not batch:
            break
        deepest = max(deepest, max(c.hops for c in batch))
        roots = _root_scores(run, batch)  # [C, L+1]
        if unit_hop == "depth":
            columns = {None: roots[np.arange(len(batch)), [min(c.hops, run.hops) for c in batch]]}
        else:
            columns = dict(enumerate(roots.T))
        for hop, scores in columns.items():
            top = np.argsort(-scores, kind="stable")[:k]
            merged = best.get(hop, []) + [(float(scores[i]), start + int(i), batch[i]) for i in top]
            best[hop] = sorted(merged, key=lambda item: (-item[0], item[1]))[:k]
    hop = None if unit_hop == "depth" else min(deepest, run.hops)
    return [(score, cand) for score, _, cand in best.get(hop, [])], deepest, hop


def _constraint_check(run: Run, constraints: Sequence[Constraint]) -> tuple[Callable[[str], bool], str]:
    """spec -> whether it satisfies every constraint, and how the metrics are known.

    From the space's look-up table when one ships; otherwise, for spaces that build and measure their
    networks (OFA: ``latency_ms``, ``cpu_ms``, ``params_m``, ``flops_m``), by measuring each
    architecture as it comes up, best-ranked first, so only what is needed is measured. Latency is
    timed only when a constraint needs it (FLOPs and parameters are counted from one forward pass).
    """
    if not constraints:
        return (lambda spec: True), ""
    space = run.space
    table, source = lookup_table(run)
    if table is not None or not space.measures:
        return (lambda spec: bool(satisfied(constraints, [spec], table, source)[0])), f"looked up in {source}"
    timed = any(c.column in ("latency_ms", "cpu_ms") for c in constraints)
    repeats = {"warmup": 5, "repeats": 20} if timed else {"warmup": 0, "repeats": 1}

    def fits(spec: str) -> bool:
        measured = space.measure(spec, space.measures[0], **repeats)
        for c in constraints:
            if c.column not in measured:
                numeric = [k for k, v in measured.items() if isinstance(v, (int, float))]
                raise InputError(f"constraint column {c.column!r} cannot be measured on space {space.name!r}; "
                                 f"it measures {numeric}")
        return all(bool(c.holds(np.array([measured[c.column]]))[0]) for c in constraints)

    return fits, "measured on this machine" if timed else "counted on this machine"


def _global_settings(space: SearchSpace) -> list[dict]:
    """Every combination of the space's whole-architecture choices ([{}] when it has none)."""
    choices = space.global_choices()
    return [dict(zip(choices, values)) for values in itertools.product(*choices.values())]


def _rescore(run: Run, space: SearchSpace, kept: list[list[tuple[float, UnitCandidate]]],
             hops: list[int | None], settings: list[dict]) -> list[list[list[tuple[float, UnitCandidate]]]]:
    """The kept candidates of every unit re-scored under each global setting, best first per unit.

    Candidates are chosen at the space's default setting (enumerating every unit once per setting
    would multiply the work); a whole-architecture choice such as OFA's resolution is a node feature
    of every candidate, so it changes their scores and is chosen here by the summed unit score.
    Each unit's candidates are read at the hop they were chosen at (``hops``; None: their depth).
    """
    if settings == [{}]:
        return [kept]
    variants = [space.unit_candidate(c.unit, c.choice, **setting)
                for setting in settings for unit in kept for _, c in unit]
    columns = [min(c.hops, run.hops) if hop is None else hop
               for _ in settings for unit, hop in zip(kept, hops) for _, c in unit]
    scores = _root_scores(run, variants)[np.arange(len(variants)), columns]
    scored = iter(zip(scores.tolist(), variants))
    return [[sorted((next(scored) for _ in unit), key=lambda pair: -pair[0]) for unit in kept]
            for _ in settings]


def _top_sums(kept: list[list[tuple[float, UnitCandidate]]], n: int):
    """The ``n`` best combinations (one candidate per unit) by summed score, best first.

    Each list is sorted best first, so a best-first search over index vectors yields the combinations
    in order without enumerating the (possibly huge) product.
    """
    start = (0,) * len(kept)
    heap = [(-sum(k[0][0] for k in kept), start)]
    seen = {start}
    while heap and n > 0:
        neg, idx = heapq.heappop(heap)
        yield -neg, [kept[u][i][1] for u, i in enumerate(idx)]
        n -= 1
        for u in range(len(kept)):
            if idx[u] + 1 < len(kept[u]):
                nxt = idx[:u] + (idx[u] + 1,) + idx[u + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    total = -neg - kept[u][idx[u]][0] + kept[u][idx[u] + 1][0]
                    heapq.heappush(heap, (-total, nxt))


# ----------------------------------------------------------------------------------- modules

def position_of(node: dict) -> tuple:
    """A node's position: its features other than ``op`` (sorted, so it is hashable and stable)."""
    return tuple(sorted((k, str(v)) for k, v in node.items() if k != "op"))


def build_pool(run: Run, space: SearchSpace, rng_seed: int = 0) -> list[str]:
    """Architectures the module-based build chooses from: the space, or the table and its neighbours."""
    if space.enumerable and (space.size() or 0) <= MAX_POOL:
        return list(space.enumerate())
    specs = list(dict.fromkeys(run.table()["arch"].astype(str)))
    neighbours = []
    if space.can_sample:
        rng = np.random.default_rng(rng_seed)
        neighbours = [space.mutate(s, rng) for s in specs for _ in range(4)]
    return list(dict.fromkeys(specs + neighbours))[:MAX_POOL]


class CellPool:
    """A pool of architectures encoded once, ready to be scored as cells by any run of the space.

    Attributes: specs [A]; store (encoded graphs); sink_index / sink_arch (global node ids of every
    sink and the architecture each belongs to); depth [A] (longest path to a sink, in edges);
    node_keys ((position, op) of every node, store order); node_arch [nodes].
    """

    def __init__(self, space: SearchSpace, specs: Sequence[str], schema: FeatureSchema) -> None:
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
        self.node_keys = [(position_of(n), str(n.get("op", ""))) for g in graphs for n in g.nodes]

    def __len__(self) -> int:
        return len(self.specs)

    def cell_scores(self, run: Run, readout: str = "sink") -> np.ndarray:
        """[A] score of each architecture's cell module.

        ``"sink"``: the standardised norm of its sinks at hop min(depth, L). ``"graph"``: its graph
        embedding's L1 norm at hop L, standardised over the pool (only the order matters).
        """
        if readout == "graph":
            norms = run.predict(self.store).hop_norms[:, -1]
            return (norms - norms.mean()) / (norms.std() or 1.0)
        per_node = node_scores(run, self.store)  # [nodes, L+1]
        hop = np.minimum(self.depth, run.hops)[self.sink_arch]
        sums = np.bincount(self.sink_arch, weights=per_node[self.sink_index, hop], minlength=len(self))
        return sums / np.bincount(self.sink_arch, minlength=len(self))


@functools.lru_cache(maxsize=4)
def _enumerated_pool(space_name: str, schema_json: str) -> CellPool:
    space = get_space(space_name)
    return CellPool(space, list(space.enumerate()), FeatureSchema.from_dict(json.loads(schema_json)))


def pool_for(run: Run) -> CellPool:
    """The whole space (encoded once per process and schema) or the table and its neighbours."""
    space = run.space
    if space.enumerable and (space.size() or 0) <= MAX_POOL:
        return _enumerated_pool(space.name, json.dumps(run.schema.to_dict(), sort_keys=True))
    return CellPool(space, build_pool(run, space), run.schema)


def cell_readout(graph: ArchGraph) -> tuple[list[int], int]:
    """The sink nodes of ``graph`` and the longest path (in edges) that ends at one of them."""
    has_succ = {s for s, _ in graph.edges}
    sinks = [v for v in range(graph.num_nodes) if v not in has_succ]
    longest = [0] * graph.num_nodes
    for v in _topological(graph):
        for p in graph.predecessors(v):
            longest[v] = max(longest[v], longest[p] + 1)
    return sinks, max(longest[v] for v in sinks)


def _topological(graph: ArchGraph) -> list[int]:
    indeg = [len(graph.predecessors(v)) for v in range(graph.num_nodes)]
    succ: list[list[int]] = [[] for _ in range(graph.num_nodes)]
    for s, d in graph.edges:
        succ[s].append(d)
    order, ready = [], [v for v in range(graph.num_nodes) if indeg[v] == 0]
    while ready:
        v = ready.pop()
        order.append(v)
        for d in succ[v]:
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    return order


def _build_from_modules(run: Run, space: SearchSpace, config: BuildConfig, report: Progress) -> BuildResult:
    report("encoding the pool", 0.05)
    pool = pool_for(run)
    specs = pool.specs
    report("scoring cells", 0.4)
    arch_score = pool.cell_scores(run, config.cell_score)
    report("ranking modules", 0.7)
    frame = pd.DataFrame({"position": [k[0] for k in pool.node_keys], "op": [k[1] for k in pool.node_keys],
                          "arch": pool.node_arch}).drop_duplicates()
    frame["score"] = arch_score[frame["arch"].to_numpy()]
    grouped = frame.groupby(["position", "op"], sort=False)
    table = grouped["score"].mean().reset_index()
    table["architectures"] = grouped["arch"].size().to_numpy()
    # Modules in every architecture (input, output) are structure, not choices.
    table = table[table["architectures"] < len(specs)]
    table = table.sort_values(["position", "score"], ascending=[True, False], kind="stable")
    table["rank"] = table.groupby("position").cumcount() + 1
    kept_table = table[table["rank"] <= config.k]
    kept = set(zip(kept_table["position"], kept_table["op"]))
    fixed = set(table["position"])
    key_ok = np.array([(pos not in fixed) or ((pos, op) in kept) for pos, op in pool.node_keys])
    arch_ok = np.bincount(pool.node_arch, weights=~key_ok, minlength=len(specs)) == 0
    reduced_size = int(arch_ok.sum())
    if config.constraints:
        arch_ok &= satisfied(config.constraints, specs, *lookup_table(run))
    members = np.flatnonzero(arch_ok)
    order = members[np.argsort(-arch_score[members], kind="stable")]
    top = order[:config.top]
    built = pd.DataFrame({"arch": [specs[i] for i in top], "score": arch_score[top]})
    units = pd.DataFrame({
        "unit": [_position_label(p) for p in kept_table["position"]],
        "rank": kept_table["rank"].to_numpy(),
        "label": kept_table["op"].to_numpy(),
        "score": kept_table["score"].to_numpy(),
    })
    pool_note = "the whole space" if len(specs) == (space.size() or -1) else f"{len(specs)} pooled architectures"
    notes = (f"top {config.k} ops per position over {pool_note}; reduced space = pool members made only of kept "
             f"(position, op) modules; ranked by cell-module score ({config.cell_score} readout)")
    if config.constraints:
        notes += (f"; subject to {', '.join(map(str, config.constraints))}: {members.size:,} of its "
                  f"{reduced_size:,} members satisfy it")
    return BuildResult(built, units.reset_index(drop=True), reduced_size, "modules", notes,
                       [specs[i] for i in order])


def _position_label(position: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in position) or "(any)"


# ------------------------------------------------------------------------------------ look-up

def lookup_table(run: Run) -> tuple[pd.DataFrame | None, str]:
    """The look-up table of the run's space and dataset, indexed by spec (None when none ships), and
    a name for it in messages."""
    space = run.space
    if not space.datasets:
        return None, f"space {space.name!r}"
    dataset = run.dataset or space.datasets[0]
    try:
        return space.metrics_table(dataset).set_index("arch"), f"the {space.name}/{dataset} look-up table"
    except InputError:
        return None, f"space {space.name!r} for dataset {dataset!r}"


def with_lookup(run: Run, table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` (an ``arch`` column) with the same ``true_<metric>`` and ``percentile``
    columns the built architectures get.

    For baselines such as the regression head's top N (:mod:`core.diffusion.exhaustive`): shown
    without them, they cannot be compared with the built ones. ``attrs`` are kept.
    """
    out = table.copy()
    _add_lookup(run, out)
    out.attrs = dict(table.attrs)
    return out


def _add_lookup(run: Run, built: pd.DataFrame) -> None:
    """Add ``true_<metric>`` columns and the ``percentile`` of the target metric, when data ships."""
    table, _ = lookup_table(run)
    if table is None or built.empty:
        return
    for column in table.columns:
        built[f"true_{column}"] = [table[column].get(a, np.nan) for a in built["arch"]]
    metric = next((c for c in run.config.target_columns if c in table.columns), None)
    if metric is not None:
        values = np.sort(table[metric].to_numpy())
        built["percentile"] = [100.0 * np.searchsorted(values, v, side="right") / len(values)
                               if np.isfinite(v) else np.nan for v in built[f"true_{metric}"]]

