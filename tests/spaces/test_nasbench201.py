"""NAS-Bench-201 space: strict arch strings, the NASLib edge order of analog-nasbench, graphs, metrics."""
from __future__ import annotations

import collections
import io
import pickle

import numpy as np
import pytest

from core.errors import InputError, SpecError
from core.spaces import get_space
from core.spaces.nasbench201 import (
    OPS,
    NasBench201Space,
    _BenchUnpickler,
    naslib_key,
    spec_string,
)

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def cell(**ops: str) -> str:
    """Arch string with the given ops on edges named e12, e13, e23, e14, e24, e34; ``none`` elsewhere."""
    order = ("e12", "e13", "e23", "e14", "e24", "e34")
    return spec_string(tuple(ops.get(edge, "none") for edge in order))


@pytest.fixture(scope="module")
def space() -> NasBench201Space:
    return get_space("nasbench201")


def uniform(op: str) -> str:
    return spec_string((op,) * 6)


@pytest.fixture(scope="module")
def baseline(space) -> dict[str, float]:
    table = space.metrics_table("cifar10")
    return dict(zip(table["arch"], table["baseline_accuracy"]))


def test_registered_with_one_accuracy_per_cell(space):
    assert isinstance(space, NasBench201Space)
    assert space.datasets == ("cifar10",)
    assert space.default_metric == space.validation_metric == space.test_metric == "baseline_accuracy"


def test_round_trip(space):
    assert space.canonical(EXAMPLE) == EXAMPLE
    assert space.canonical(f"  {EXAMPLE}\n") == EXAMPLE
    assert cell(e14="nor_conv_3x3") == "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"


def test_enumeration(space):
    specs = list(space.enumerate())
    assert space.size() == len(specs) == len(set(specs)) == 5**6 == 15625
    assert all(space.canonical(s) == s for s in specs[::97])


def test_naslib_key_swaps_edges_2_3_and_1_4():
    # Arch-string order (1,2),(1,3),(2,3),(1,4),(2,4),(3,4); NASLib order (1,2),(1,3),(1,4),(2,3),(2,4),(3,4).
    ops = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "none")
    assert naslib_key(ops) == (0, 1, 3, 2, 4, 1)


def test_known_cells(baseline):
    assert baseline[uniform("nor_conv_3x3")] == pytest.approx(93.24, abs=0.01)
    assert baseline[uniform("none")] == pytest.approx(10.0)
    assert baseline[uniform("skip_connect")] == pytest.approx(60.78, abs=0.01)
    assert max(baseline.values()) == pytest.approx(94.07, abs=0.01)


def test_edge_order_follows_data_flow(baseline):
    # A conv on 1->4 reaches the output; a conv on 2->3 or 1->2 alone has no path from the input to the
    # output, so it scores chance (10 %). Swapping edges 2-3 and 1-4 would flip the first two.
    assert baseline[cell(e14="nor_conv_3x3")] > 80
    assert baseline[cell(e23="nor_conv_3x3")] == pytest.approx(10.0)
    assert baseline[cell(e12="nor_conv_3x3")] == pytest.approx(10.0)
    assert baseline[cell(e12="nor_conv_3x3", e24="skip_connect")] > 80
    assert baseline[cell(e13="nor_conv_3x3", e34="skip_connect")] > 80


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("", "need 3 '+'-separated node groups, got 1"),
        ("|none~0|+|none~0|none~1|", "got 2"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 2 group 'none~0|' must start and end with '|'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 3 needs 2 inputs, got 1"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~3|", "token 'none~3' of node 4 must be 'op~2'"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "token 'none~1' of node 3 must be 'op~0'"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "token 'none' of node 2"),
        ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_3x3'"),
        ("|none~0| + |none~0|none~1|+|none~0|none~1|none~2|", "must start and end with '|'"),
    ],
)
def test_bad_specs_name_the_problem(space, spec, problem):
    with pytest.raises(SpecError, match="nasbench201") as info:
        space.canonical(spec)
    assert problem in str(info.value)


def test_graph_shape(space):
    g = space.to_graph(EXAMPLE)
    assert g.labels == ["input", "nor_conv_3x3 1-2", "nor_conv_3x3 1-3", "avg_pool_3x3 2-3",
                        "skip_connect 1-4", "nor_conv_3x3 2-4", "skip_connect 3-4", "output"]
    assert [n["edge"] for n in g.nodes[1:7]] == ["1-2", "1-3", "2-3", "1-4", "2-4", "3-4"]
    # Op on 3->4 reads both ops into node 3 (1->3, 2->3); the output reads the ops on 1->4, 2->4, 3->4.
    assert sorted(g.predecessors(6)) == [2, 3]
    assert sorted(g.predecessors(7)) == [4, 5, 6]
    assert g.predecessors(3) == [1] and g.predecessors(5) == [1]
    assert g.predecessors(1) == g.predecessors(2) == g.predecessors(4) == [0]
    x_cat, _, edge_index = g.encode(space.schema())
    assert x_cat.shape == (8, 2) and tuple(edge_index.shape) == (2, 10)


def test_schema_is_fixed(space):
    assert space.schema() == space.schema([space.to_graph(EXAMPLE)])
    assert space.schema().names == ("op", "edge")
    assert set(space.schema().features[0].vocab) == set(OPS) | {"input", "output"}


def test_sample_is_seeded(space):
    a = [space.sample(rng) for rng in [np.random.default_rng(4)] for _ in range(40)]
    b = [space.sample(rng) for rng in [np.random.default_rng(4)] for _ in range(40)]
    assert a == b and len(set(a)) == 40
    assert all(space.canonical(s) == s for s in a)


def test_mutate_changes_exactly_one_edge(space):
    rng = np.random.default_rng(0)
    changed_edges = collections.Counter()
    for _ in range(600):
        spec = space.sample(rng)
        child = space.mutate(spec, rng)
        diff = [i for i, (a, b) in enumerate(zip(space.parse(spec), space.parse(child))) if a != b]
        assert len(diff) == 1, (spec, child)
        changed_edges[diff[0]] += 1
    assert sorted(changed_edges) == list(range(6))
    assert space.mutate(EXAMPLE, np.random.default_rng(1)) == space.mutate(EXAMPLE, np.random.default_rng(1))


def test_metrics_table(space):
    table = space.metrics_table()
    assert list(table.columns) == ["arch", "baseline_accuracy", "ptq_accuracy", "qat_accuracy",
                                   "noisy_accuracy", "analog_accuracy"]
    assert table["arch"].tolist() == list(space.enumerate())
    metrics = table.drop(columns="arch")
    assert (metrics.dtypes == np.float64).all() and metrics.notna().all().all()
    assert metrics.stack().between(0, 100).all()
    table.loc[0, "baseline_accuracy"] = -1.0
    assert space.metrics_table("cifar10").loc[0, "baseline_accuracy"] != -1.0
    with pytest.raises(InputError, match="unknown dataset 'cifar100'"):
        space.metrics_table("cifar100")


def test_lookup_matches_table(space, baseline):
    record = space.lookup(EXAMPLE)
    assert record["baseline_accuracy"] == baseline[EXAMPLE]
    assert set(record) == {"baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy"}


def test_unpickler_refuses_other_globals():
    payload = pickle.dumps(collections.OrderedDict(a=1))
    with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
        _BenchUnpickler(io.BytesIO(payload)).load()
