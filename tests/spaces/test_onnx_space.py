"""The ``onnx`` space: operator graphs read from .onnx files, path resolution, errors, caching."""
import json
import os
import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from core.errors import SpecError
from core.features import CATEGORICAL, NUMERIC
from core.spaces import get_space
from core.spaces.onnx_space import OnnxSpace, onnx_to_graph_spec


def weight(name: str, *shape: int):
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def residual_model(classes: int = 10):
    """Conv3x3 -> Relu -> Identity -> Conv5x5 (weight from a Constant) -> Add(residual) -> GAP -> Flatten -> Gemm.

    The second Conv has no ``kernel_shape`` attribute, so its kernel must come from the weight [8, 4, 5, 5].
    """
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Identity", ["r1"], ["r1_alias"]),
        helper.make_node("Constant", [], ["w2"], value=weight("w2_value", 8, 4, 5, 5)),
        helper.make_node("Conv", ["r1_alias", "w2"], ["c2"], pads=[2, 2, 2, 2], group=2),
        helper.make_node("Add", ["c2", "r1"], ["sum"]),
        helper.make_node("GlobalAveragePool", ["sum"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "residual",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])],
        initializer=[weight("w1", 8, 3, 3, 3), weight("b1", 8), weight("w3", classes, 8), weight("b3", classes)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def model_path(tmp_path) -> str:
    path = tmp_path / "residual.onnx"
    save(residual_model(), str(path))
    return str(path)


@pytest.fixture
def space() -> OnnxSpace:
    return get_space("onnx")


def test_parses_operator_graph_with_features(space, model_path):
    arch = space.to_graph(model_path)
    assert arch.spec == model_path
    assert arch.labels == ["Conv", "Relu", "Conv", "Add", "GlobalAveragePool", "Flatten", "Gemm"]
    assert arch.nodes[0] == {"op": "Conv", "kernel": 3, "stride": 1, "groups": 1, "out_channels": 8}
    # Kernel read off the Constant weight's spatial dims; no strides attribute, so no stride feature.
    assert arch.nodes[2] == {"op": "Conv", "kernel": 5, "groups": 2, "out_channels": 8}
    assert arch.nodes[6] == {"op": "Gemm", "out_channels": 10}  # transB: B is [N, K]
    assert arch.nodes[1] == {"op": "Relu"}
    # Identity bypassed: the second Conv reads the Relu directly; the Add has the residual edge.
    assert sorted(arch.edges) == [(0, 1), (1, 2), (1, 3), (2, 3), (3, 4), (4, 5), (5, 6)]


def test_canonical_is_the_normalised_absolute_path(space, model_path, tmp_path):
    messy = os.path.join(str(tmp_path), "sub", "..", "residual.onnx")
    assert space.canonical(messy) == model_path
    assert space.canonical(model_path) == model_path
    assert OnnxSpace.resolve("residual.onnx", tmp_path) == model_path
    assert OnnxSpace(base_dir=tmp_path).canonical("residual.onnx") == model_path


def test_relative_paths_default_to_the_working_directory(space, model_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert space.canonical("residual.onnx") == model_path


def test_missing_file_raises_spec_error_naming_it(space, tmp_path):
    with pytest.raises(SpecError, match=r"'.*absent\.onnx' does not exist"):
        space.canonical(str(tmp_path / "absent.onnx"))


def test_non_onnx_file_raises_spec_error_naming_it(space, tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a protobuf\n" * 3)
    with pytest.raises(SpecError, match=r"'.*notes\.onnx' is not a readable ONNX model") as info:
        space.canonical(str(text))
    assert "\n" not in str(info.value)


def test_model_failing_the_checker_raises_spec_error(space, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"])], "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "bad.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(SpecError, match=r"bad\.onnx"):
        space.canonical(str(path))


def test_directory_and_empty_spec_raise(space, tmp_path):
    with pytest.raises(SpecError, match="not a file"):
        space.canonical(str(tmp_path))
    with pytest.raises(SpecError, match="expected a path"):
        space.canonical("  ")


def test_cache_rereads_changed_file_and_hands_out_copies(space, model_path):
    first = space.to_graph(model_path)
    first.nodes[0]["op"] = "scribbled"
    assert space.to_graph(model_path).nodes[0]["op"] == "Conv"
    save(residual_model(classes=3), model_path)
    os.utime(model_path, ns=(1, 1))  # a different mtime even on coarse-grained file systems
    assert space.to_graph(model_path).nodes[6]["out_channels"] == 3


def test_schema_discovery_on_onnx_graphs(space, model_path):
    schema = space.schema([space.to_graph(model_path)])
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds == {"op": CATEGORICAL, "kernel": NUMERIC, "stride": NUMERIC, "groups": NUMERIC,
                     "out_channels": NUMERIC}


def test_conversion_to_generic_graph_spec(model_path):
    spec = onnx_to_graph_spec(model_path)
    graph_space = get_space("graph")
    assert graph_space.canonical(spec) == spec
    converted = graph_space.to_graph(spec)
    assert sorted(converted.labels) == sorted(get_space("onnx").to_graph(model_path).labels)
    assert len(json.loads(spec)["edges"]) == 7


def test_torch_exported_model(space, tmp_path):
    import torch

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 5, stride=2), torch.nn.Flatten(), torch.nn.LazyLinear(4),
    )
    example = torch.zeros(1, 3, 12, 12)
    model(example)  # materialise the lazy layer
    path = tmp_path / "torch.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter warns that it is deprecated
            torch.onnx.export(model.eval(), (example,), str(path), dynamo=False)
    except Exception as err:  # no TorchScript exporter in this torch build: nothing of ours to test
        pytest.skip(f"torch.onnx.export(dynamo=False) is unavailable here: {err}")
    arch = space.to_graph(str(path))
    convs = [n for n in arch.nodes if n["op"] == "Conv"]
    assert [(c["kernel"], c["stride"], c["out_channels"]) for c in convs] == [(3, 1, 8), (5, 2, 16)]
    assert arch.nodes[-1] == {"op": "Gemm", "out_channels": 4}
    assert all(s < d for s, d in arch.edges) and len(arch.edges) == arch.num_nodes - 1
