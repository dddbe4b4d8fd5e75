"""NAS-Bench-Graph space: canonical specs against the package's keys, graphs, search moves, metrics."""
from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pytest
from nas_bench_graph import Arch, light_read

from core.errors import InputError, SpecError
from core.spaces import get_space
from core.spaces.nasbench_graph import (
    OPS,
    PROTEINS_OPS,
    NasBenchGraphSpace,
    decode_key,
    spec_string,
)

EXAMPLE = '{"links":[0,1,2,1],"ops":["gcn","gin","fc","cheb"]}'
# [0,1,2,1]: gcn -> gin -> fc and gcn -> cheb; the package sorts it to gcn -> {gin -> fc, cheb}.
EXAMPLE_CANONICAL = '{"links":[0,1,1,2],"ops":["gcn","gin","cheb","fc"]}'


@pytest.fixture(scope="module")
def space() -> NasBenchGraphSpace:
    return get_space("nasbench-graph")


@pytest.fixture(scope="module")
def specs(space) -> list[str]:
    return list(space.enumerate())


def _package_key(spec: str) -> int:
    obj = json.loads(spec)
    return Arch(obj["links"], obj["ops"]).valid_hash()


def test_registered_with_benchmark_metadata(space):
    assert isinstance(space, NasBenchGraphSpace)
    assert len(space.datasets) == 9 and "proteins" in space.datasets
    assert (space.default_metric, space.validation_metric, space.test_metric) == ("valid_perf", "valid_perf", "perf")


def test_example_canonicalises_to_compact_json(space):
    assert space.canonical(EXAMPLE) == EXAMPLE_CANONICAL
    assert space.canonical(EXAMPLE_CANONICAL) == EXAMPLE_CANONICAL
    assert space.canonical(' { "links" : [0, 1, 2, 1], "ops": ["gcn", "gin", "fc", "cheb"] } ') == EXAMPLE_CANONICAL


def test_isomorphic_link_lists_share_one_canonical_spec(space):
    # gcn feeds gin and cheb, gin feeds fc: three raw drawings of one architecture.
    drawings = [EXAMPLE, '{"links":[0,1,1,3],"ops":["gcn","cheb","gin","fc"]}', EXAMPLE_CANONICAL]
    assert {space.canonical(d) for d in drawings} == {EXAMPLE_CANONICAL}
    # Two chains (gin -> fc, gcn -> cheb) are another architecture with the same ops.
    assert space.canonical('{"links":[0,0,1,2],"ops":["gin","gcn","fc","cheb"]}') != EXAMPLE_CANONICAL


@pytest.mark.slow
def test_enumeration_is_the_26206_keys_of_every_full_table(space, specs):
    assert space.size() == len(specs) == len(set(specs)) == 26206
    keys = [_package_key(s) for s in specs]
    assert set(keys) == set(light_read("cora")) == set(light_read("arxiv"))
    assert all(space.canonical(s) == s for s in specs)


@pytest.mark.slow
def test_raw_link_lists_canonicalise_like_the_package(space):
    rng = np.random.default_rng(0)
    raw_links = list(itertools.product(*(range(i + 1) for i in range(4))))
    assert len(raw_links) == 24
    for links in raw_links:
        for digits in rng.integers(len(OPS), size=(200, 4)):
            ops = [OPS[d] for d in digits]
            if ops == ["skip"] * 4:
                continue
            raw = spec_string(links, ops)
            canonical = space.canonical(raw)
            assert _package_key(canonical) == _package_key(raw), raw
            assert space.canonical(canonical) == canonical


def _tree_form(graph, node: int) -> str:
    """Exact canonical form of the in-tree under ``node`` (children sorted): an isomorphism invariant."""
    return graph.labels[node] + "(" + ",".join(sorted(_tree_form(graph, p) for p in graph.predecessors(node))) + ")"


@pytest.mark.slow
def test_distinct_canonical_specs_are_distinct_graphs(space, specs):
    # Every node reaches the output, so the output's in-tree is the whole graph: equal forms would mean
    # two keys for one architecture, or a graph that loses part of the spec.
    forms = {_tree_form(graph, graph.num_nodes - 1) for graph in map(space.to_graph, specs)}
    assert len(forms) == len(specs)


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("gcn gin", "not JSON"),
        ('["links", "ops"]', 'exactly the keys "links" and "ops"'),
        ('{"links":[0,0,0,0],"ops":["gcn","gcn","gcn","gcn"],"extra":1}', "'extra'"),
        ('{"links":[0,0,0],"ops":["gcn","gcn","gcn","gcn"]}', "links must be a list of 4 integers"),
        ('{"links":[0,0,0,true],"ops":["gcn","gcn","gcn","gcn"]}', "links must be a list of 4 integers"),
        ('{"links":[0,2,0,0],"ops":["gcn","gcn","gcn","gcn"]}', "links[1] = 2 must be in 0..1"),
        ('{"links":[0,0,0,-1],"ops":["gcn","gcn","gcn","gcn"]}', "links[3] = -1"),
        ('{"links":[0,0,0,0],"ops":["gcn","gcn","gcn"]}', "ops must be a list of 4"),
        ('{"links":[0,0,0,0],"ops":["gcn","gcn","gcn","transformer"]}', "unknown op 'transformer'"),
        ('{"links":[0,1,2,3],"ops":["skip","skip","skip","skip"]}', "all four ops are skip"),
    ],
)
def test_bad_specs_name_the_problem(space, spec, problem):
    with pytest.raises(SpecError, match="nasbench-graph") as info:
        space.canonical(spec)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_graph_of_example(space):
    g = space.to_graph(EXAMPLE)
    assert g.spec == EXAMPLE_CANONICAL
    assert [label.split("@")[0] for label in g.labels] == ["input", "gcn", "gin", "cheb", "fc", "output"]
    assert [n["depth"] for n in g.nodes[:5]] == ["0", "1", "2", "2", "3"]
    # links [0,1,1,2] -> 4 edges; leaves cheb (3) and fc (4) feed the output.
    assert sorted(g.edges) == [(0, 1), (1, 2), (1, 3), (2, 4), (3, 5), (4, 5)]
    assert sorted(g.predecessors(5)) == [3, 4]
    x_cat, x_num, edge_index = g.encode(space.schema())
    assert x_cat.shape == (6, 2) and x_num.shape == (6, 0)
    assert tuple(edge_index.shape) == (2, 6)


def test_every_leaf_feeds_the_output(space):
    g = space.to_graph('{"links":[0,0,0,0],"ops":["gat","gcn","sage","fc"]}')
    assert sorted(g.predecessors(5)) == [1, 2, 3, 4]
    assert tuple(g.encode(space.schema())[2].shape) == (2, 8)


def test_skip_stays_a_node_of_the_canonical_form(space):
    # The package treats a skip on the raw input as the input itself: the skip becomes the parent of the
    # nodes that read the input, so it is no longer a leaf.
    g = space.to_graph('{"links":[0,0,0,0],"ops":["skip","gcn","sage","fc"]}')
    assert g.spec == '{"links":[0,1,1,1],"ops":["skip","gcn","sage","fc"]}'
    assert [label.split("@")[0] for label in g.labels] == ["input", "skip", "gcn", "sage", "fc", "output"]
    assert sorted(g.predecessors(5)) == [2, 3, 4] and g.predecessors(2) == [1]
    g = space.to_graph('{"links":[0,0,1,1],"ops":["gat","gat","gcn","skip"]}')
    assert g.predecessors(4) == [1] and 4 in g.predecessors(5)


def test_schema_is_fixed(space):
    assert space.schema() == space.schema([space.to_graph(EXAMPLE)])
    assert space.schema().names == ("op", "depth")
    assert set(OPS) | {"input", "output"} == set(space.schema().features[0].vocab)


def test_sample_is_seeded_and_canonical(space, specs):
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert len(set(first)) == 1
    a = [space.sample(rng) for rng in [np.random.default_rng(1)] for _ in range(50)]
    b = [space.sample(rng) for rng in [np.random.default_rng(1)] for _ in range(50)]
    assert a == b and len(set(a)) > 45
    assert set(a) <= set(specs)


def test_mutate_changes_one_op_or_one_link(space):
    rng = np.random.default_rng(3)
    for _ in range(300):
        spec = space.sample(rng)
        child = space.mutate(spec, rng)
        assert child != spec and space.canonical(child) == child
        ops, child_ops = Counter(json.loads(spec)["ops"]), Counter(json.loads(child)["ops"])
        # A link move keeps the op multiset; an op change swaps exactly one op for another.
        assert sum(((ops - child_ops) + (child_ops - ops)).values()) in (0, 2), (spec, child)


def test_mutate_is_seeded(space):
    a = [space.mutate(EXAMPLE, np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1] != EXAMPLE_CANONICAL


def test_metrics_tables(space):
    cora = space.metrics_table("cora")
    assert list(cora.columns) == ["arch", "valid_perf", "perf", "latency", "para"]
    assert len(cora) == 26206 and cora["arch"].is_unique
    assert cora[["valid_perf", "perf", "latency", "para"]].notna().all().all()
    assert cora["perf"].between(0, 1).all() and (cora["latency"] > 0).all()
    proteins = space.metrics_table("proteins")
    assert len(proteins) == 2021
    used = {op for spec in proteins["arch"] for op in json.loads(spec)["ops"]}
    assert used == set(PROTEINS_OPS)
    assert space.metrics_table(None).equals(cora)


@pytest.mark.slow
def test_metrics_table_returns_a_copy(space):
    table = space.metrics_table("citeseer")
    table.loc[0, "perf"] = -1.0
    assert space.metrics_table("citeseer").loc[0, "perf"] != -1.0


@pytest.mark.slow
def test_lookup_matches_table_and_names_missing_dataset_rows(space):
    row = space.metrics_table("pubmed").set_index("arch").loc[EXAMPLE_CANONICAL]
    assert space.lookup(EXAMPLE, "pubmed") == pytest.approx(row.to_dict())
    with pytest.raises(InputError, match="not in the proteins table"):
        space.lookup(EXAMPLE, "proteins")
    with pytest.raises(InputError, match="unknown dataset 'mnist'"):
        space.metrics_table("mnist")


@pytest.mark.slow
def test_every_enumerated_spec_is_its_own_canonical_form(space, specs):
    # key() and to_graph() answer the enumeration's own specs from a table, without parsing or hashing;
    # that is only right if the package maps every one of them onto itself.
    from core.spaces.nasbench_graph import _canonical_keys

    table = _canonical_keys()
    assert list(table) == specs
    assert all(spec == spec_string(*decode_key(key)) for spec, key in table.items())
    assert all(_package_key(spec) == key for spec, key in table.items())


def test_canonical_and_raw_spelling_give_the_same_graph(space):
    from_raw, from_canonical = space.to_graph(EXAMPLE), space.to_graph(EXAMPLE_CANONICAL)
    assert (from_raw.nodes, from_raw.edges, from_raw.labels, from_raw.spec) == (
        from_canonical.nodes, from_canonical.edges, from_canonical.labels, from_canonical.spec)
    assert from_canonical.spec == EXAMPLE_CANONICAL and space.key(EXAMPLE) == space.key(EXAMPLE_CANONICAL)
