"""NAS-Bench-201 cells (Dong & Yang, ICLR 2020) with CIFAR-10 metrics from ``analog-nasbench==0.1.3``.

A cell has 4 nodes and 6 edges (i -> j, i < j), each running one of 5 ops. Spec string: the standard arch
string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, whose edges are, in order,
(1,2), (1,3), (2,3), (1,4), (2,4), (3,4) (``op~k``: the edge from node k+1 into the node of that group).
No isomorphism reduction: all 5^6 = 15,625 strings are distinct specs, as the benchmark keeps them all.

analog-nasbench ships ``analognasbench/data.anb``, a pickle ``{6-tuple: Architecture}`` whose key holds op
indices (0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3) in NASLib edge order
(1,2), (1,3), (1,4), (2,3), (2,4), (3,4): NOT the arch-string order (edges 3 and 4 are swapped).
"""
from __future__ import annotations

import importlib.util
import itertools
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from core.errors import InputError
from core.features import CATEGORICAL, MISSING, FeatureSchema, FeatureSpec
from core.graph import ArchGraph
from core.spaces import register_space
from core.spaces.base import parse_error
from core.spaces.capabilities import EnumerableSpace, LookupSpace, SamplingSpace

SPACE = "nasbench201"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (from, to) in arch-string order.
EDGES = ((1, 2), (1, 3), (2, 3), (1, 4), (2, 4), (3, 4))
#: Edges in the NASLib order of analog-nasbench's keys.
NASLIB_EDGES = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
#: analog-nasbench op index -> op name.
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
METRICS = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy")


def spec_string(ops: tuple[str, ...]) -> str:
    """The arch string of 6 ops given in arch-string edge order."""
    groups, start = [], 0
    for node in (2, 3, 4):
        width = node - 1
        groups.append("|" + "|".join(f"{ops[start + k]}~{k}" for k in range(width)) + "|")
        start += width
    return "+".join(groups)


def naslib_key(ops: tuple[str, ...]) -> tuple[int, ...]:
    """analog-nasbench's key of a cell: op indices in NASLib edge order."""
    by_edge = dict(zip(EDGES, ops))
    return tuple(NASLIB_OPS.index(by_edge[edge]) for edge in NASLIB_EDGES)


class _Cell:
    """Stands in for ``analognasbench.data.Architecture``: unpickling only sets its ``__dict__``."""


class _Drift:
    """Stands in for ``analognasbench.data.DriftMeasurement`` (value, uncertainty)."""


class _BenchUnpickler(pickle.Unpickler):
    """Resolves only the two classes of ``data.anb`` (to the stand-ins above); refuses any other global."""

    _ALLOWED = {("analognasbench.data", "Architecture"): _Cell, ("analognasbench.data", "DriftMeasurement"): _Drift}

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"data.anb refers to {module}.{name}, which is not allowed") from None


def _data_path() -> Path:
    # find_spec locates the package without running analognasbench/__init__.py and its pkg_resources loader.
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("package analog-nasbench is not installed (pip install analog-nasbench==0.1.3)")
    return Path(spec.submodule_search_locations[0]) / "data.anb"


@lru_cache(maxsize=1)
def _bench() -> dict[tuple[int, ...], _Cell]:
    with open(_data_path(), "rb") as f:
        return _BenchUnpickler(f).load()


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    bench = _bench()
    cells = [(spec_string(ops), bench[naslib_key(ops)]) for ops in itertools.product(OPS, repeat=len(EDGES))]
    columns = {"arch": [arch for arch, _ in cells]}
    for metric in METRICS:
        # The pickle holds float sums like 91.22400000000002; 6 decimals keep every stored digit.
        columns[metric] = np.array([getattr(cell, metric) for _, cell in cells], dtype=np.float64).round(6)
    return pd.DataFrame(columns)


@register_space
class NasBench201Space(SamplingSpace, EnumerableSpace, LookupSpace):
    """NAS-Bench-201 on CIFAR-10 with analog-nasbench accuracies (%): 15,625 cells, duplicates kept.

    The package reports one accuracy per cell and training setting (no separate validation/test split),
    so ``baseline_accuracy`` is the default, validation and test metric alike; ``ptq``, ``qat``, ``noisy``
    and ``analog`` are the accuracies after quantisation or on (simulated) analog hardware.
    Graph (op-on-node form): ``input``, one node per edge op (6, arch-string order), ``output``; the op on
    edge (i, j) takes every op node on an edge ending at i (the input node when i = 1); the output takes
    the 3 op nodes on edges ending at 4. So 8 nodes and 10 edges for every cell.
    """

    name = SPACE
    description = "NAS-Bench-201: 15,625 cells of 6 edge ops, CIFAR-10 accuracies incl. quantised and analog."
    datasets = ("cifar10",)
    default_metric = "baseline_accuracy"
    metric_units = {m: "%" for m in METRICS}
    validation_metric = "baseline_accuracy"
    test_metric = "baseline_accuracy"

    # ------------------------------------------------------------ spec strings
    def parse(self, spec: str) -> tuple[str, ...]:
        """The 6 ops of an arch string, in arch-string edge order; strict about every token."""
        if not isinstance(spec, str):
            raise parse_error(SPACE, str(spec), f"need an arch string, got {type(spec).__name__}")
        groups = spec.strip().split("+")
        if len(groups) != 3:
            raise parse_error(SPACE, spec, f"need 3 '+'-separated node groups, got {len(groups)}")
        ops: list[str] = []
        for node, group in zip((2, 3, 4), groups):
            if len(group) < 2 or group[0] != "|" or group[-1] != "|":
                raise parse_error(SPACE, spec, f"node {node} group {group!r} must start and end with '|'")
            tokens = group[1:-1].split("|")
            if len(tokens) != node - 1:
                raise parse_error(SPACE, spec, f"node {node} needs {node - 1} inputs, got {len(tokens)}")
            for k, token in enumerate(tokens):
                op, sep, source = token.partition("~")
                if not sep or source != str(k):
                    raise parse_error(SPACE, spec, f"token {token!r} of node {node} must be 'op~{k}'")
                if op not in OPS:
                    raise parse_error(SPACE, spec, f"unknown op {op!r}; choose from {list(OPS)}")
                ops.append(op)
        return tuple(ops)

    def canonical(self, spec: str) -> str:
        return spec_string(self.parse(spec))

    def to_graph(self, spec: str) -> ArchGraph:
        ops = self.parse(spec)
        output = len(EDGES) + 1
        nodes = [{"op": "input", "edge": MISSING}]
        nodes += [{"op": op, "edge": f"{i}-{j}"} for op, (i, j) in zip(ops, EDGES)]
        nodes.append({"op": "output", "edge": MISSING})
        # Op node of edge e is node e+1 (node 0 is the input).
        into = {cell_node: [e + 1 for e, (_, j) in enumerate(EDGES) if j == cell_node] for cell_node in (2, 3, 4)}
        edges = []
        for e, (i, _) in enumerate(EDGES):
            sources = [0] if i == 1 else into[i]
            edges += [(src, e + 1) for src in sources]
        edges += [(src, output) for src in into[4]]
        # The edge is part of the label: the same op on two edges is two different modules.
        labels = [n["op"] if n["edge"] == MISSING else f"{n['op']} {n['edge']}" for n in nodes]
        return ArchGraph(nodes=nodes, edges=edges, spec=spec_string(ops), labels=labels)

    # --------------------------------------------------------------- features
    def schema(self, graphs=None) -> FeatureSchema:
        """``op`` (5 ops + input/output) and ``edge`` (the cell slot "i-j"; "-" for input/output).

        The slot is part of a cell's identity here (the benchmark keeps every slot assignment), and the
        op-on-node graph alone cannot tell the three edges leaving node 1 apart: edges 1-2, 1-3 and 1-4
        all have just the input as predecessor, so without ``edge`` a conv feeding later nodes and a conv
        feeding the output directly would be one hop-0/hop-1 module.
        """
        return FeatureSchema((
            FeatureSpec("op", CATEGORICAL, vocab=("input", "output") + OPS),
            FeatureSpec("edge", CATEGORICAL, vocab=tuple(f"{i}-{j}" for i, j in EDGES) + (MISSING,)),
        ))

    # ----------------------------------------------------------------- search
    def sample(self, rng: np.random.Generator) -> str:
        return spec_string(tuple(OPS[int(i)] for i in rng.integers(len(OPS), size=len(EDGES))))

    def mutate(self, spec: str, rng: np.random.Generator) -> str:
        """Change the op of one uniformly chosen edge to one of the 4 other ops."""
        ops = list(self.parse(spec))
        edge = int(rng.integers(len(EDGES)))
        ops[edge] = [op for op in OPS if op != ops[edge]][int(rng.integers(len(OPS) - 1))]
        return spec_string(tuple(ops))

    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def enumerate(self) -> Iterator[str]:
        return (spec_string(ops) for ops in itertools.product(OPS, repeat=len(EDGES)))

    # ---------------------------------------------------------------- metrics
    def metrics_table(self, dataset: str | None = None) -> pd.DataFrame:
        """``arch`` + the 5 accuracies (%), 15,625 rows in :meth:`enumerate` order."""
        self.resolve_dataset(dataset)
        return _table().copy()

    def lookup(self, spec: str, dataset: str | None = None) -> dict[str, float]:
        """The 5 accuracies (%) of one cell."""
        self.resolve_dataset(dataset)
        cell = _bench()[naslib_key(self.parse(spec))]
        return {m: float(getattr(cell, m)) for m in METRICS}
