"""core/graph.py: ArchGraph validation and tensors, FeatureSchema, check_dag, module signatures."""
import pytest
import torch

from core.errors import SpecError
from core.features import CATEGORICAL, MISSING, NUMERIC, FeatureSchema, FeatureSpec
from core.graph import ArchGraph, check_dag


def chain(*nodes: dict) -> ArchGraph:
    """A linear architecture ``nodes[0] -> nodes[1] -> ...``."""
    return ArchGraph(nodes=[dict(n) for n in nodes], edges=[(i, i + 1) for i in range(len(nodes) - 1)])


INPUT = {"op": "input"}
CONV3 = {"op": "conv", "kernel": 3, "channels": 64}
RELU = {"op": "relu"}


# ----------------------------------------------------------------- ArchGraph
def test_archgraph_rejects_bad_edges_and_empty_graphs():
    with pytest.raises(SpecError, match=r"edge \(0, 2\)"):
        ArchGraph(nodes=[INPUT, RELU], edges=[(0, 2)])
    with pytest.raises(SpecError, match="self-loop"):
        ArchGraph(nodes=[INPUT, RELU], edges=[(1, 1)])
    with pytest.raises(SpecError, match="at least one node"):
        ArchGraph(nodes=[], edges=[])


def test_default_labels_join_string_features():
    assert chain(INPUT, CONV3).labels == ["input", "conv"]
    assert ArchGraph(nodes=[{"k": 3}], edges=[]).labels == ["0"]


def test_encode_shapes_and_values():
    arch = chain(INPUT, CONV3, RELU)
    schema = FeatureSchema.discover(arch.nodes)
    x_cat, x_num, edge_index = arch.encode(schema)
    assert x_cat.shape == (3, 1) and x_cat.dtype == torch.long          # op
    assert x_num.shape == (3, 2) and x_num.dtype == torch.float32       # channels, kernel
    assert edge_index.tolist() == [[0, 1], [1, 2]]
    assert x_num[1].tolist() == [1.0, 1.0] and x_num[0].tolist() == [0.0, 0.0]  # missing -> 0 -> low end


def test_encode_single_node_without_edges():
    arch = ArchGraph(nodes=[INPUT], edges=[])
    _, _, edge_index = arch.encode(FeatureSchema.discover(arch.nodes))
    assert edge_index.shape == (2, 0) and edge_index.dtype == torch.long


def test_encode_rejects_unknown_category_and_non_numbers():
    schema = FeatureSchema.discover([INPUT, CONV3])
    with pytest.raises(SpecError, match="'op' has value 'pool'"):
        schema.encode_node({"op": "pool"})
    with pytest.raises(SpecError, match="'channels' has value 'wide', which is not a number"):
        schema.encode_node({"op": "conv", "channels": "wide"})
    with pytest.raises(SpecError, match="non-finite"):
        schema.encode_node({"op": "conv", "channels": float("nan")})


# -------------------------------------------------------------- FeatureSchema
def test_discover_kinds_vocab_and_ranges():
    schema = FeatureSchema.discover([INPUT, CONV3, {"op": "conv", "kernel": 5, "channels": 128, "bn": True}])
    by_name = {f.name: f for f in schema.features}
    assert {n: f.kind for n, f in by_name.items()} == {
        "op": CATEGORICAL, "bn": CATEGORICAL, "kernel": NUMERIC, "channels": NUMERIC}
    assert by_name["op"].vocab == ("conv", "input")
    assert by_name["bn"].vocab == ("True", MISSING)  # bools are categorical; absent values get MISSING
    assert (by_name["kernel"].low, by_name["kernel"].high) == (0.0, 5.0)
    assert [f.kind for f in schema.features] == [CATEGORICAL, CATEGORICAL, NUMERIC, NUMERIC]


def test_discover_mixed_types_are_categorical():
    schema = FeatureSchema.discover([{"op": "a", "k": 3}, {"op": "b", "k": "dilated"}, {"op": "c", "k": 3.0}])
    k = next(f for f in schema.features if f.name == "k")
    assert k.kind == CATEGORICAL and k.vocab == ("3", "dilated")


def test_schema_round_trips_through_dict():
    schema = FeatureSchema.discover([INPUT, CONV3, {"op": "conv", "kernel": 7, "channels": 16}])
    again = FeatureSchema.from_dict(schema.to_dict())
    assert again == schema
    assert again.encode_node(CONV3) == schema.encode_node(CONV3)


def test_schema_rejects_bad_definitions():
    with pytest.raises(ValueError, match="duplicate"):
        FeatureSchema((FeatureSpec("a", NUMERIC), FeatureSpec("a", NUMERIC)))
    with pytest.raises(ValueError, match="vocabulary"):
        FeatureSpec("op", CATEGORICAL)
    with pytest.raises(SpecError, match="no node features"):
        FeatureSchema.discover([{}])


# ------------------------------------------------------------------ check_dag
def test_check_dag():
    check_dag(4, [(0, 1), (0, 2), (1, 3), (2, 3)])
    check_dag(1, [])
    with pytest.raises(SpecError, match="cycle"):
        check_dag(3, [(0, 1), (1, 2), (2, 1)])


# ------------------------------------------------------------------- modules
def test_same_module_in_two_architectures_has_equal_signatures():
    short = chain(INPUT, CONV3, RELU)                                    # relu is node 2
    longer = chain({"op": "stem"}, INPUT, CONV3, RELU, {"op": "pool"})  # relu is node 3
    for hops in (0, 1, 2):
        assert short.signatures(hops)[hops][2] == longer.signatures(hops)[hops][3]
    # At 3 hops the longer architecture's relu module also contains the stem.
    assert short.signatures(3)[3][2] != longer.signatures(3)[3][3]


def test_signature_changes_with_one_feature():
    conv5 = dict(CONV3, kernel=5)
    a, b = chain(INPUT, CONV3, RELU), chain(INPUT, conv5, RELU)
    assert a.signatures(0)[0][2] == b.signatures(0)[0][2]  # relu alone is unchanged
    assert a.signatures(1)[1][2] != b.signatures(1)[1][2]  # relu <- conv differs in kernel
    assert a.signatures(0)[0][1] != b.signatures(0)[0][1]


def test_signatures_ignore_node_numbering_and_predecessor_order():
    a = ArchGraph(nodes=[INPUT, CONV3, RELU, {"op": "add"}], edges=[(0, 1), (0, 2), (1, 3), (2, 3)])
    b = ArchGraph(nodes=[{"op": "add"}, RELU, CONV3, INPUT], edges=[(3, 2), (3, 1), (1, 0), (2, 0)])
    assert a.signatures(2)[2][3] == b.signatures(2)[2][0]


def test_module_description():
    arch = ArchGraph(nodes=[INPUT, CONV3, RELU, {"op": "add"}], edges=[(0, 1), (0, 2), (1, 3), (2, 3)])
    assert arch.module_description(3, 1) == "add <- (conv, relu)"
    assert arch.module_description(1, 3) == "conv <- input"
