"""NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks), read from ``nas-bench-graph==1.4.0``.

An architecture has 4 computing nodes, each with exactly one input: ``links[i]`` is the input of
computing node ``i+1`` (0 = the raw input, ``k`` = computing node ``k``), so ``links[i] <= i``. Each
node runs one of 9 ops. Leaves (nodes that no other node uses as input) are concatenated -> ReLU ->
Linear to the output.

Spec string: ``{"links":[0,1,2,1],"ops":["gcn","gin","fc","cheb"]}``. Any raw link list is accepted;
the canonical form is the package's own: ``Arch(links, ops).valid_hash()`` maps isomorphic link lists,
moved skip nodes and interchangeable positions onto one 5-digit key (link-pattern index, then the 4 op
digits), which decodes back to a canonical ``(links, ops)``. The 24 x 9^4 raw lists map onto 26,206
keys plus 88888 (all four ops skip), which has no output and is rejected.
"""
from __future__ import annotations

import contextlib
import io
import json
from functools import lru_cache
from typing import Any, Iterator

import numpy as np
import pandas as pd

from core.errors import InputError
from core.features import CATEGORICAL, MISSING, FeatureSchema, FeatureSpec
from core.files.bounded_json import JsonInputError, load_json
from core.gc_pause import cycle_collector_paused
from core.graph import ArchGraph
from core.spaces import register_space
from core.spaces.base import parse_error
from core.spaces.capabilities import EnumerableSpace, LookupSpace, SamplingSpace

SPACE = "nasbench-graph"
NUM_NODES = 4
#: Op names in the package's digit order (``nas_bench_graph.architecture.gnn_list``).
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: Ops that the proteins table evaluates (``gnn_list_proteins``); its keys still use the 9-op digits.
PROTEINS_OPS = ("gcn", "sage", "arma", "fc", "skip")
#: Canonical link patterns, indexed by the key's leading digit (``architecture.link_list``).
LINK_PATTERNS = (
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3),
    (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3),
)
ALL_SKIP_KEY = 88888
METRICS = ("valid_perf", "perf", "latency", "para")


def decode_key(key: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The canonical ``(links, ops)`` of a benchmark key: link-pattern digit, then 4 op digits."""
    ops = tuple(OPS[(key // 10**k) % 10] for k in (3, 2, 1, 0))
    return LINK_PATTERNS[key // 10**4], ops


def spec_string(links: Any, ops: Any) -> str:
    """The compact JSON spec, keys ``links`` then ``ops``."""
    return json.dumps({"links": list(links), "ops": list(ops)}, separators=(",", ":"))


def _package_key(links: list[int], ops: list[str]) -> int:
    from nas_bench_graph import Arch

    # valid_hash compares link lists with ``==`` against lists, so it must get lists, not tuples.
    return Arch(list(links), list(ops)).valid_hash()


@lru_cache(maxsize=1)
def _canonical_keys() -> dict[str, int]:
    """The 26,206 canonical specs -> their keys, sorted by key (``architecture.all_archs()``, which
    prints its count). A canonical spec is its own canonical form (a test checks every one), so
    :meth:`NasBenchGraphSpace.key` answers these from this table without parsing or hashing."""
    from nas_bench_graph import architecture

    with contextlib.redirect_stdout(io.StringIO()), cycle_collector_paused():
        archs = architecture.all_archs()
    # The JSON spec_string writes, by format (ints and plain op names need no escaping): 5x faster.
    template = '{"links":[%d,%d,%d,%d],"ops":["%s","%s","%s","%s"]}'
    return {template % (*links, *ops): k
            for k in sorted(a.hash_arch() for a in archs) for links, ops in [decode_key(k)]}


@lru_cache(maxsize=1)
def _canonical_specs() -> tuple[str, ...]:
    """The 26,206 canonical specs, sorted by key."""
    return tuple(_canonical_keys())


@lru_cache(maxsize=None)
def _bench(dataset: str) -> dict[int, dict[str, float]]:
    """``light_read(dataset)``: key -> {valid_perf, perf, latency (s), para (M)}."""
    from nas_bench_graph import light_read

    return light_read(dataset)


@lru_cache(maxsize=None)
def _table(dataset: str) -> pd.DataFrame:
    bench = _bench(dataset)
    keys = sorted(bench)
    columns: dict[str, Any] = {"arch": [spec_string(*decode_key(k)) for k in keys]}
    for metric in METRICS:
        columns[metric] = np.array([bench[k][metric] for k in keys], dtype=np.float64)
    return pd.DataFrame(columns)


@register_space
class NasBenchGraphSpace(SamplingSpace, EnumerableSpace, LookupSpace):
    """NAS-Bench-Graph: 26,206 GNN architectures, metrics on 9 datasets (proteins: 2,021 of them).

    Metrics: ``valid_perf`` (validation accuracy, ROC-AUC on proteins), ``perf`` (test metric at the
    best-validation epoch), ``latency`` (seconds, one full-graph forward on GPU), ``para`` (millions of
    parameters). Graph: ``input`` node, the 4 computing nodes (skip kept as an op node), ``output`` node;
    edges ``links[i] -> i+1`` and leaf -> output, so 6 nodes and 4 + #leaves edges.
    """

    name = SPACE
    description = "NAS-Bench-Graph: 26,206 GNNs of 4 single-input nodes, looked up on 9 node/graph datasets."
    datasets = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
    default_metric = "valid_perf"
    # The benchmark's own units (its paper, Table 2): inference seconds and millions of parameters.
    metric_units = {"latency": "s", "para": "M"}
    validation_metric = "valid_perf"
    test_metric = "perf"

    # ------------------------------------------------------------ spec strings
    def parse(self, spec: str) -> tuple[list[int], list[str]]:
        """Raw ``(links, ops)`` of a spec, checked for shape, link range and op names (not canonicalised)."""
        try:
            obj = load_json(spec)
        except JsonInputError as exc:
            raise parse_error(SPACE, str(spec), f"not JSON ({exc})") from None
        if not isinstance(obj, dict) or set(obj) != {"links", "ops"}:
            got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise parse_error(SPACE, spec, f'need exactly the keys "links" and "ops", got {got}')
        links, ops = obj["links"], obj["ops"]
        if not isinstance(links, list) or len(links) != NUM_NODES or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in links
        ):
            raise parse_error(SPACE, spec, f"links must be a list of {NUM_NODES} integers, got {links!r}")
        for i, v in enumerate(links):
            if not 0 <= v <= i:
                raise parse_error(SPACE, spec, f"links[{i}] = {v} must be in 0..{i} (the input of node {i + 1})")
        if not isinstance(ops, list) or len(ops) != NUM_NODES:
            raise parse_error(SPACE, spec, f"ops must be a list of {NUM_NODES} op names, got {ops!r}")
        for op in ops:
            if op not in OPS:
                raise parse_error(SPACE, spec, f"unknown op {op!r}; choose from {list(OPS)}")
        return links, ops

    def key(self, spec: str) -> int:
        """The benchmark key (``Arch(links, ops).valid_hash()``) of any valid spec."""
        known = _canonical_keys().get(spec)
        if known is not None:  # the enumeration's own specs: the hash is already known
            return known
        links, ops = self.parse(spec)
        key = _package_key(links, ops)
        if key == ALL_SKIP_KEY:
            raise parse_error(SPACE, spec, "all four ops are skip, so the architecture has no GNN layer")
        return key

    def canonical(self, spec: str) -> str:
        return spec_string(*decode_key(self.key(spec)))

    def to_graph(self, spec: str) -> ArchGraph:
        links, ops = decode_key(self.key(spec))
        # A canonical spec is already the string spec_string would write (one JSON encoding saved per arch).
        canonical = spec if spec in _canonical_keys() else spec_string(links, ops)
        parents = (None,) + links  # parents[v] of computing node v = 1..4
        depth = [0] * (NUM_NODES + 1)
        for v in range(1, NUM_NODES + 1):
            depth[v] = depth[parents[v]] + 1  # parents[v] < v, so already set
        output = NUM_NODES + 1
        leaves = [v for v in range(1, NUM_NODES + 1) if v not in links]
        nodes = [{"op": "input", "depth": "0"}]
        nodes += [{"op": ops[v - 1], "depth": str(depth[v])} for v in range(1, NUM_NODES + 1)]
        nodes.append({"op": "output", "depth": MISSING})
        edges = [(parents[v], v) for v in range(1, NUM_NODES + 1)] + [(v, output) for v in leaves]
        # Depth is part of the label: gcn at depth 1 and gcn at depth 3 are different modules.
        labels = [n["op"] if n["op"] in ("input", "output") else f"{n['op']}@{n['depth']}" for n in nodes]
        return ArchGraph(nodes=nodes, edges=edges, spec=canonical, labels=labels)

    # --------------------------------------------------------------- features
    def schema(self, graphs=None) -> FeatureSchema:
        """``op`` (9 ops + input/output) and ``depth`` (path length from the input; "-" for the output).

        Depth rather than the node's index: the index of a computing node in the canonical spec is an
        artefact of the package's sorting of interchangeable nodes, while depth is the same in every
        isomorphic drawing, so equal modules get equal features.
        """
        return FeatureSchema((
            FeatureSpec("op", CATEGORICAL, vocab=("input", "output") + OPS),
            FeatureSpec("depth", CATEGORICAL, vocab=tuple(str(d) for d in range(NUM_NODES + 1)) + (MISSING,)),
        ))

    # ----------------------------------------------------------------- search
    def sample(self, rng: np.random.Generator) -> str:
        specs = _canonical_specs()
        return specs[int(rng.integers(len(specs)))]

    def mutate(self, spec: str, rng: np.random.Generator) -> str:
        """Uniform over the distinct canonical archs one op change or one link change away."""
        own = self.key(spec)
        links, ops = decode_key(own)
        neighbours: set[int] = set()
        for i in range(NUM_NODES):
            for op in OPS:
                if op != ops[i]:
                    neighbours.add(_package_key(list(links), [*ops[:i], op, *ops[i + 1:]]))
            for parent in range(i + 1):
                if parent != links[i]:
                    neighbours.add(_package_key([*links[:i], parent, *links[i + 1:]], list(ops)))
        choices = sorted(neighbours - {own, ALL_SKIP_KEY})
        return spec_string(*decode_key(choices[int(rng.integers(len(choices)))]))

    def size(self) -> int:
        return len(_canonical_specs())

    def enumerate(self) -> Iterator[str]:
        return iter(_canonical_specs())

    # ---------------------------------------------------------------- metrics
    def metrics_table(self, dataset: str | None = None) -> pd.DataFrame:
        """``arch`` + valid_perf, perf, latency, para; 26,206 rows (proteins 2,021), sorted by key."""
        return _table(self.resolve_dataset(dataset)).copy()

    def lookup(self, spec: str, dataset: str | None = None) -> dict[str, float]:
        """The metrics of one spec on ``dataset``; a one-line error if that dataset did not evaluate it."""
        dataset = self.resolve_dataset(dataset)
        record = _bench(dataset).get(self.key(spec))
        if record is None:
            why = f" (it only evaluates ops {list(PROTEINS_OPS)})" if dataset == "proteins" else ""
            raise InputError(f"{SPACE} arch {self.canonical(spec)} is not in the {dataset} table{why}")
        return {m: float(record[m]) for m in METRICS}
