"""The ``onnx`` space: each architecture is an ``.onnx`` file, read as a graph of operators.

Spec string: a path to an ONNX model. A relative path is resolved against a base directory with
:meth:`OnnxSpace.resolve` (the table reader passes the table's directory; without one the current
directory is used), and the canonical spec is the absolute, normalised path, so tables keep paths.

The model is only read (``onnx.load(..., load_external_data=False)`` plus ``onnx.checker``), never run.
Its graph becomes an :class:`~core.graph.ArchGraph`:

* one node per ONNX operator node, in the file's (topological) order. ``Constant`` and ``Identity``
  nodes are bypassed: a Constant is a weight, not a computation, and an Identity just renames a tensor,
  so consumers of its output are wired to the producer of its input. Subgraphs of control-flow
  operators (``If``, ``Loop``) are not unfolded: such an operator is one node;
* an edge ``producer -> consumer`` for every tensor one node computes and another reads (graph inputs
  and weights have no producer, so they add no edge; parallel tensors between two nodes give one edge);
* node features: ``op`` (the op type, prefixed by its domain outside the default one, e.g.
  ``com.microsoft.FusedConv``; categorical) and, where present, numeric ``kernel`` (max of
  ``kernel_shape``, or of the Conv weight's spatial dims), ``stride`` (max of ``strides``), ``groups``
  (Conv / ConvTranspose ``group``, default 1) and ``out_channels`` (from a constant weight:
  Conv ``W[M, C/g, k...]`` -> M; ConvTranspose ``W[C, M/g, k...]`` -> M = dim1 * g; Gemm ``B[K, N]``
  -> N, or ``B[N, K]`` -> N with ``transB``; MatMul ``B[..., K, N]`` -> N).

Parsed graphs are cached by (path, modification time, size). :func:`onnx_to_graph_spec` converts a file
to the generic ``graph`` space's JSON, for users who prefer to keep specs in the table itself.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any

from core.errors import SpecError
from core.graph import ArchGraph
from core.spaces import register_space
from core.spaces.capabilities import FileSpace
from core.spaces.generic_graph import GenericGraphSpace

_DEFAULT_DOMAINS = ("", "ai.onnx")
_BYPASSED_OPS = ("Constant", "Identity")

#: Parsed operator graphs: nodes as sorted (feature, value) tuples, edges, so the cache stays immutable.
_Parsed = tuple[tuple[tuple[tuple[str, Any], ...], ...], tuple[tuple[int, int], ...]]


@register_space
class OnnxSpace(FileSpace):
    """Architectures given as paths to ONNX files (see the module docstring).

    Args:
        base_dir: directory that relative spec paths are resolved against; None means the current one.
    """

    name = "onnx"
    description = "Any architecture exported to ONNX, one .onnx file per table row."

    def __init__(self, base_dir: str | os.PathLike | None = None) -> None:
        self.base_dir = base_dir

    @staticmethod
    def resolve(spec: str, base_dir: str | os.PathLike | None = None) -> str:
        """The absolute, normalised path a spec names; relative specs are taken relative to ``base_dir``."""
        if not isinstance(spec, str) or not spec.strip():
            raise SpecError(f"invalid onnx spec {spec!r}: expected a path to an .onnx file")
        path = os.path.expanduser(spec.strip())
        return os.path.abspath(os.path.join(base_dir if base_dir is not None else os.getcwd(), path))

    def canonical(self, spec: str) -> str:
        path = self.resolve(spec, self.base_dir)
        _load(path)  # validates the file (and warms the cache for to_graph)
        return path

    def to_graph(self, spec: str) -> ArchGraph:
        path = self.resolve(spec, self.base_dir)
        nodes, edges = _load(path)
        node_dicts = [dict(node) for node in nodes]
        return ArchGraph(nodes=node_dicts, edges=list(edges), spec=path, labels=[n["op"] for n in node_dicts])


def onnx_to_graph_spec(spec: str, base_dir: str | os.PathLike | None = None) -> str:
    """The canonical ``graph``-space JSON of an ONNX file (same nodes, features and edges)."""
    arch = OnnxSpace(base_dir).to_graph(spec)
    return GenericGraphSpace().canonical(json.dumps(arch.to_json_dict()))


# ------------------------------------------------------------------ reading
def _load(path: str) -> _Parsed:
    """Parse ``path`` (cached while the file is unchanged); :class:`SpecError` naming the file otherwise."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise SpecError(f"ONNX file {path!r} does not exist") from None
    except OSError as err:
        raise SpecError(f"ONNX file {path!r} cannot be read: {err.strerror}") from None
    except ValueError:  # e.g. an embedded NUL byte: no file can have that name
        raise SpecError(f"ONNX path {path!r} is not a valid file name") from None
    if not os.path.isfile(path):
        raise SpecError(f"ONNX path {path!r} is not a file")
    return _parse_file(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _parse_file(path: str, mtime_ns: int, size: int) -> _Parsed:
    """Check and parse one file; ``mtime_ns`` and ``size`` only key the cache so an edited file is re-read."""
    import onnx  # imported here: the space registry imports this module even when no one uses ONNX

    try:
        onnx.checker.check_model(path)
        model = onnx.load(path, format="protobuf", load_external_data=False)
    except Exception as err:  # onnx raises protobuf, checker and OS errors alike; all mean "not a model"
        raise SpecError(f"ONNX file {path!r} is not a readable ONNX model: {first_line(err)}") from None
    nodes, edges = _operator_graph(model.graph)
    if not nodes:
        raise SpecError(f"ONNX file {path!r} has no operator nodes")
    return tuple(tuple(sorted(n.items())) for n in nodes), tuple(sorted(edges))


def first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _operator_graph(graph: Any) -> tuple[list[dict[str, Any]], set[tuple[int, int]]]:
    """Nodes (feature dicts) and edges of an ONNX ``GraphProto``, bypassing Constant and Identity."""
    weight_dims: dict[str, list[int]] = {t.name: list(t.dims) for t in graph.initializer}
    producer: dict[str, int] = {}  # tensor name -> index of the operator node computing it
    nodes: list[dict[str, Any]] = []
    edges: set[tuple[int, int]] = set()
    for node in graph.node:
        default_domain = node.domain in _DEFAULT_DOMAINS
        if default_domain and node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                weight_dims[node.output[0]] = list(value.dims)
            continue
        if default_domain and node.op_type == "Identity":
            source, alias = node.input[0], node.output[0]
            if source in producer:
                producer[alias] = producer[source]
            elif source in weight_dims:
                weight_dims[alias] = weight_dims[source]
            continue
        index = len(nodes)
        nodes.append(_node_features(node, weight_dims))
        edges.update((producer[name], index) for name in node.input if name in producer)
        producer.update((name, index) for name in node.output if name)
    return nodes, edges


def _node_features(node: Any, weight_dims: dict[str, list[int]]) -> dict[str, Any]:
    """``op`` plus the numeric kernel / stride / groups / out_channels described in the module docstring."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    default_domain = node.domain in _DEFAULT_DOMAINS
    op = node.op_type if default_domain else f"{node.domain}.{node.op_type}"
    features: dict[str, Any] = {"op": op}
    if not default_domain:
        return features
    weight = weight_dims.get(node.input[1]) if len(node.input) > 1 else None
    is_conv = node.op_type in ("Conv", "ConvTranspose")
    if attrs.get("kernel_shape"):
        features["kernel"] = int(max(attrs["kernel_shape"]))
    elif is_conv and weight is not None and len(weight) > 2:
        features["kernel"] = int(max(weight[2:]))
    if attrs.get("strides"):
        features["stride"] = int(max(attrs["strides"]))
    if is_conv:
        features["groups"] = int(attrs.get("group", 1))
    out_channels = _out_channels(node.op_type, attrs, weight)
    if out_channels is not None:
        features["out_channels"] = out_channels
    return features


def _out_channels(op_type: str, attrs: dict[str, Any], weight: list[int] | None) -> int | None:
    """Output channels / features read off a constant weight's shape, or None when it is not constant."""
    if weight is None or len(weight) < 2:
        return None
    if op_type == "Conv":
        return int(weight[0])
    if op_type == "ConvTranspose":
        return int(weight[1]) * int(attrs.get("group", 1))
    if op_type == "Gemm" and len(weight) == 2:
        return int(weight[0] if attrs.get("transB", 0) else weight[1])
    if op_type == "MatMul":
        return int(weight[-1])
    return None
