"""The generic ``graph`` space: strict validation, canonical relabelling, schema discovery."""
import json

import pytest

from core.errors import SpecError
from core.features import CATEGORICAL, NUMERIC
from core.spaces import get_space
from core.spaces.base import SearchSpace

# conv -> (relu, pool) -> add: a small diamond with features of every kind.
DIAMOND = {
    "nodes": [
        {"op": "conv3x3", "channels": 64, "bn": True},
        {"op": "relu"},
        {"op": "maxpool", "kernel": 3},
        {"op": "add", "channels": 64.0},
    ],
    "edges": [[0, 1], [0, 2], [1, 3], [2, 3]],
}


def relabel(spec: dict, perm: list[int]) -> dict:
    """The same graph with node ``i`` renumbered ``perm[i]``."""
    nodes = [None] * len(perm)
    for old, new in enumerate(perm):
        nodes[new] = spec["nodes"][old]
    return {"nodes": nodes, "edges": [[perm[s], perm[d]] for s, d in spec["edges"]]}


@pytest.fixture
def space() -> SearchSpace:
    return get_space("graph")


def test_registered_and_open(space):
    assert space.name == "graph"
    assert not space.enumerable and space.size() is None
    with pytest.raises(NotImplementedError):
        space.sample(None)


def test_canonical_is_compact_sorted_and_idempotent(space):
    canon = space.canonical(json.dumps(DIAMOND, indent=2))
    assert " " not in canon and "\n" not in canon
    assert canon.index('"edges"') < canon.index('"nodes"')
    assert space.canonical(canon) == canon
    assert '"channels":64,' in canon and "64.0" not in canon


def test_round_trip_through_graph(space):
    arch = space.to_graph(json.dumps(DIAMOND))
    assert arch.spec == space.canonical(json.dumps(DIAMOND))
    assert arch.num_nodes == 4 and len(arch.edges) == 4
    assert sorted(arch.labels) == ["add", "conv3x3", "maxpool", "relu"]
    assert space.canonical(json.dumps(arch.to_json_dict())) == arch.spec
    # The source comes first in a topological order, and every edge points forward.
    assert arch.labels[0] == "conv3x3" and all(s < d for s, d in arch.edges)


@pytest.mark.parametrize("perm", [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]])
def test_relabelled_isomorphic_specs_canonicalise_equal(space, perm):
    assert space.canonical(json.dumps(relabel(DIAMOND, perm))) == space.canonical(json.dumps(DIAMOND))


def test_symmetric_branches_canonicalise_equal(space):
    # Two parallel conv->relu branches with different kernels: ties must be broken by structure.
    spec = {
        "nodes": [{"op": "in"}, {"op": "conv", "k": 3}, {"op": "conv", "k": 5},
                  {"op": "relu"}, {"op": "relu"}, {"op": "cat"}],
        "edges": [[0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 5]],
    }
    swapped = relabel(spec, [0, 2, 1, 4, 3, 5])
    assert space.canonical(json.dumps(swapped)) == space.canonical(json.dumps(spec))


def test_twins_told_apart_by_their_successors(space):
    # The two relus have equal features and the same predecessor; only what follows them differs,
    # so only the successor-aware WL colours can order them independently of the numbering.
    spec = {
        "nodes": [{"op": "in"}, {"op": "relu"}, {"op": "relu"}, {"op": "conv", "k": 3}, {"op": "conv", "k": 5}],
        "edges": [[0, 1], [0, 2], [1, 3], [2, 4]],
    }
    for perm in ([0, 2, 1, 3, 4], [0, 1, 2, 4, 3], [4, 3, 2, 1, 0]):
        assert space.canonical(json.dumps(relabel(spec, perm))) == space.canonical(json.dumps(spec))


def test_different_graphs_differ(space):
    other = json.loads(json.dumps(DIAMOND))
    other["nodes"][2]["kernel"] = 5
    assert space.canonical(json.dumps(other)) != space.canonical(json.dumps(DIAMOND))
    rewired = dict(DIAMOND, edges=[[0, 1], [1, 2], [2, 3]])
    assert space.canonical(json.dumps(rewired)) != space.canonical(json.dumps(DIAMOND))


@pytest.mark.parametrize(
    "spec, problem",
    [
        ('{"nodes": [', "malformed JSON"),
        ('[1, 2]', "expected a JSON object"),
        ('{"nodes": [{"op": "a"}]}', "missing key 'edges'"),
        ('{"nodes": [], "edges": []}', "non-empty list"),
        ('{"nodes": [{"op": "a"}], "edges": [], "extra": 1}', "unknown key 'extra'"),
        ('{"nodes": [{"channels": 3}], "edges": []}', "node 0 needs an 'op'"),
        ('{"nodes": [{"op": ""}], "edges": []}', "node 0 needs an 'op'"),
        ('{"nodes": [{"op": 7}], "edges": []}', "node 0 needs an 'op'"),
        ('{"nodes": [{"op": "a", "w": NaN}], "edges": []}', "feature 'w' is nan"),
        ('{"nodes": [{"op": "a", "w": 1e999}], "edges": []}', "feature 'w' is inf"),
        ('{"nodes": [{"op": "a", "w": [1, 2]}], "edges": []}', "feature 'w' is a list"),
        ('{"nodes": [{"op": "a", "w": {"x": 1}}], "edges": []}', "feature 'w' is a dict"),
        ('{"nodes": [{"op": "a", "op": "b"}], "edges": []}', "'op' appears twice"),
        ('{"nodes": [{"op": "a"}, {"op": "b"}], "edges": [[0, 2]]}', "out of range 0..1"),
        ('{"nodes": [{"op": "a"}, {"op": "b"}], "edges": [[-1, 1]]}', "out of range"),
        ('{"nodes": [{"op": "a"}, {"op": "b"}], "edges": [[0, 1, 1]]}', "not a pair of integers"),
        ('{"nodes": [{"op": "a"}, {"op": "b"}], "edges": [[0, 1.0]]}', "not a pair of integers"),
        ('{"nodes": [{"op": "a"}, {"op": "b"}], "edges": [[1, 1]]}', "self-loop"),
        ('{"nodes": [{"op": "a"}, {"op": "b"}], "edges": [[0, 1], [0, 1]]}', "duplicate"),
        ('{"nodes": [{"op": "a"}, {"op": "b"}, {"op": "c"}], "edges": [[0, 1], [1, 2], [2, 0]]}', "cycle"),
    ],
)
def test_invalid_specs_raise_spec_error_naming_the_problem(space, spec, problem):
    with pytest.raises(SpecError, match="invalid graph spec") as info:
        space.canonical(spec)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_schema_discovery_kinds(space):
    graphs = [space.to_graph(json.dumps(DIAMOND)),
              space.to_graph('{"nodes": [{"op": "conv3x3", "channels": 128}], "edges": []}')]
    schema = space.schema(graphs)
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds == {"op": CATEGORICAL, "bn": CATEGORICAL, "channels": NUMERIC, "kernel": NUMERIC}
    op = next(f for f in schema.features if f.name == "op")
    assert set(op.vocab) == {"add", "conv3x3", "maxpool", "relu"}
    channels = next(f for f in schema.features if f.name == "channels")
    assert (channels.low, channels.high) == (0.0, 128.0)  # some nodes lack it, so 0 is in range
    x_cat, x_num, edge_index = graphs[0].encode(schema)
    assert x_cat.shape == (4, 2) and x_num.shape == (4, 2) and edge_index.shape == (2, 4)
