"""Every registered space against the space contract (core/spaces/base.py, core/spaces/capabilities.py).

Parametrised over the registry, so a new space is held to it without a line here, except example specs
for a space that cannot sample (``OPEN_EXAMPLES``). What a space declares it must do; what it does not
declare it must refuse with the base's message; every spec round-trips through ``canonical`` and
``to_graph``, and a spec of another space (or junk) is refused with a one-line :class:`InputError`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import save

from core.errors import InputError
from core.graph import ArchGraph, check_dag
from core.spaces import get_space, space_names
from core.spaces.capabilities import (
    EnumerableSpace,
    FileSpace,
    LookupSpace,
    MeasuringSpace,
    SamplingSpace,
    UnitSpace,
)
from tests.spaces.test_onnx_space import residual_model

FLAGS = {"can_sample": SamplingSpace, "enumerable": EnumerableSpace, "has_units": UnitSpace,
         "can_measure": MeasuringSpace, "has_lookup": LookupSpace, "resolves_files": FileSpace}
#: Spaces that enumerate themselves fully in the test when no larger than this.
ENUMERATE_UP_TO = 30_000
JUNK = ["", " ", "{", "[]", "null", "0", "-1", "x" * 300, '{"nodes": 3}', "nor_conv_3x3~0|+|"]

CHAIN = {"nodes": [{"op": "input"}, {"op": "conv", "kernel": 3}, {"op": "relu"}], "edges": [[0, 1], [1, 2]]}
DIAMOND = {"nodes": [{"op": "conv", "channels": 8}, {"op": "relu"}, {"op": "pool", "kernel": 3}, {"op": "add"}],
           "edges": [[0, 1], [0, 2], [1, 3], [2, 3]]}


def open_examples(name: str, folder: Path) -> list[str] | None:
    """Example specs of the spaces that cannot sample their own; None for an unknown space."""
    if name == "graph":
        return [json.dumps(CHAIN), json.dumps(DIAMOND)]
    if name == "onnx":
        paths = []
        for classes in (10, 3):
            path = folder / f"model{classes}.onnx"
            save(residual_model(classes), str(path))
            paths.append(str(path))
        return paths
    return None


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> dict[str, list[str]]:
    """Three seeded samples of every space that samples, the fixed examples of the others."""
    folder = tmp_path_factory.mktemp("contract")
    found = {}
    for name in space_names():
        space = get_space(name)
        if space.can_sample:
            found[name] = space.sample_distinct(3, np.random.default_rng(0))
        else:
            found[name] = open_examples(name, folder)
    return found


@pytest.fixture(params=space_names())
def name(request) -> str:
    return request.param


def test_every_space_has_examples(name, examples):
    assert examples[name], f"space {name!r} cannot sample: add example specs to open_examples()"


def test_flags_are_the_declared_classes(name):
    space = get_space(name)
    for flag, cls in FLAGS.items():
        assert getattr(space, flag) is isinstance(space, cls), f"{name}.{flag} set by hand"
    assert len(space.capabilities()) == sum(isinstance(space, cls) for cls in FLAGS.values())
    assert space.name == name and space.description


def test_spec_round_trip(name, examples):
    space = get_space(name)
    for spec in examples[name]:
        canonical = space.canonical(spec)
        assert space.canonical(canonical) == canonical
        graph = space.to_graph(canonical)
        assert isinstance(graph, ArchGraph) and graph.spec == canonical
        check_dag(graph.num_nodes, graph.edges)
        assert len(graph.labels) == graph.num_nodes
        again = space.to_graph(canonical)
        assert (again.nodes, again.edges) == (graph.nodes, graph.edges)
    assert len({space.canonical(s) for s in examples[name]}) == len(examples[name])


def test_schema_encodes_every_example(name, examples):
    space = get_space(name)
    graphs = [space.to_graph(s) for s in examples[name]]
    schema = space.schema(graphs)
    for graph in graphs:
        x_cat, x_num, edge_index = graph.encode(schema)
        assert x_cat.shape == (graph.num_nodes, len(schema.categorical))
        assert x_num.shape == (graph.num_nodes, len(schema.numeric))
        assert tuple(edge_index.shape) == (2, len(graph.edges))


def test_sample_and_mutate(name, examples):
    space = get_space(name)
    rng = np.random.default_rng(5)
    if not space.can_sample:
        with pytest.raises(NotImplementedError, match="cannot sample"):
            space.sample(rng)
        with pytest.raises(NotImplementedError, match="cannot mutate"):
            space.mutate(examples[name][0], rng)
        return
    first = space.sample(np.random.default_rng(1))
    assert space.sample(np.random.default_rng(1)) == first == space.canonical(first)
    for spec in examples[name]:
        child = space.mutate(spec, rng)
        assert child != spec and space.canonical(child) == child


def test_enumerate_and_size(name):
    space = get_space(name)
    if not space.enumerable:
        with pytest.raises(NotImplementedError, match="not enumerable"):
            next(iter(space.enumerate()))
        assert space.size() is None or space.size() > 0
        return
    size = space.size()
    assert isinstance(size, int) and size > 0
    head = [spec for _, spec in zip(range(50), space.enumerate())]
    assert len(set(head)) == len(head) and all(space.canonical(s) == s for s in head)
    if size <= ENUMERATE_UP_TO:
        assert sum(1 for _ in space.enumerate()) == size


def test_units(name):
    space = get_space(name)
    if not space.has_units:
        assert space.units() == ()
        with pytest.raises(NotImplementedError, match="no units"):
            next(iter(space.unit_candidates("any")))
        with pytest.raises(NotImplementedError, match="no units"):
            space.assemble({})
        return
    assert space.units()
    choices = {}
    for unit in space.units():
        candidate = next(iter(space.unit_candidates(unit)))
        assert candidate.unit == unit and candidate.label
        assert 0 <= candidate.root < candidate.graph.num_nodes and candidate.hops >= 0
        assert space.unit_candidate(unit, candidate.choice) == candidate
        choices[unit] = candidate.choice
    spec = space.assemble(choices)
    assert space.canonical(spec) == spec
    for key, options in space.global_choices().items():
        assert options and space.canonical(space.assemble({**choices, key: options[0]}))


@pytest.mark.slow
def test_measure(name, examples):
    space = get_space(name)
    spec = examples[name][0]
    if not space.can_measure:
        assert space.measures == ()
        with pytest.raises(InputError, match="cannot build networks"):
            space.measure(spec)
        return
    assert space.measures
    row = space.measure(spec, space.measures[0], warmup=0, repeats=1, threads=1)
    numbers = {k: v for k, v in row.items() if isinstance(v, (int, float))}
    assert numbers and all(np.isfinite(v) for v in numbers.values())
    if space.default_metric is not None:
        assert space.default_metric in row


def test_lookup(name):
    space = get_space(name)
    if not space.has_lookup:
        assert space.datasets == ()
        with pytest.raises(InputError, match="ships no metrics"):
            space.metrics_table()
        return
    assert space.datasets and space.resolve_dataset(None) == space.datasets[0]
    table = space.metrics_table(space.datasets[-1])
    assert "arch" in table and len(table) > 0 and table["arch"].is_unique
    assert all(space.canonical(a) == a for a in table["arch"].head(20))
    for metric in (space.default_metric, space.validation_metric, space.test_metric):
        assert metric is None or metric in table
    with pytest.raises(InputError, match="unknown dataset"):
        space.resolve_dataset("no-such-dataset")


def test_files(name, examples, tmp_path):
    space = get_space(name)
    if not space.resolves_files:
        return
    source = Path(examples[name][0])
    (tmp_path / "copy.onnx").write_bytes(source.read_bytes())
    resolved = space.resolve("copy.onnx", tmp_path)
    assert resolved == str(tmp_path / "copy.onnx") and space.canonical(resolved) == resolved


def test_default_target_names_a_metric_or_nothing(name):
    space = get_space(name)
    assert space.default_target([]) is None
    if space.default_metric is not None:
        target = space.default_target([space.default_metric])
        assert target.lstrip("-").strip("`") == space.default_metric
        assert target.startswith("-") is space.lower_is_better


def test_foreign_specs_are_refused_in_one_line(name, examples):
    """What the Data page's space detection relies on: any text either parses or raises InputError."""
    space = get_space(name)
    others = [spec for other, specs in examples.items() if other != name for spec in specs]
    for spec in others + JUNK:
        try:
            space.canonical(spec)
        except InputError as err:
            assert "\n" not in str(err)
