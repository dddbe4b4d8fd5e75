"""Small dense stores the fused-layer tests share: a diamond (two predecessors), a node without
predecessors besides the input, a chain with a skip, and (for padded batches) a two-node graph."""
from core.graph import ArchGraph, FeatureSchema, FeatureSpec
from core.predictor.batching import EncodedGraphs

SCHEMA = FeatureSchema((FeatureSpec("op", "categorical", ("in", "a", "out")),))


def small_store(same_size: bool) -> EncodedGraphs:
    """Four graphs of four nodes (every batch full) or, with ``same_size`` false, six of two to four (padded)."""
    graphs = [ArchGraph([{"op": "in"}, {"op": "a"}, {"op": "a"}, {"op": "out"}], [(0, 1), (0, 2), (1, 3), (2, 3)]),
              ArchGraph([{"op": "in"}, {"op": "a"}, {"op": "out"}, {"op": "a"}], [(0, 1), (1, 2), (0, 2)])]
    if not same_size:
        graphs.append(ArchGraph([{"op": "in"}, {"op": "out"}], [(0, 1)]))
    return EncodedGraphs(graphs * 2, SCHEMA, dense=True)
