"""core.predictor.member_outputs: one pass of every member gives the norms and the predictions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig
from core.predictor.ensemble import build_predictor
from core.predictor.member_outputs import member_outputs
from core.spaces import get_space
from core.tables.sampling import sample_benchmark


def _store(n=23):
    space = get_space("nasbench-graph")
    graphs = [space.to_graph(a) for a in sample_benchmark("nasbench-graph", "cora", n, 3)["arch"]]
    return EncodedGraphs(graphs, space.schema(graphs))


@pytest.mark.parametrize("members", [1, 3])
def test_each_members_norms_and_predictions_are_its_own_forward(members):
    store = _store()
    torch.manual_seed(0)
    model = build_predictor(store.schema, PredictorConfig(width=8, layers=2, members=members)).eval()
    # Batches of 5 graphs: the pass must stitch batches back into store order.
    outputs = member_outputs(model, store, batch_size=5)
    each = list(model.members) if members > 1 else [model]
    assert outputs.norms.shape == (members, int(store.node_counts.sum()), 3)
    assert outputs.predictions.shape == (members, len(store))
    with torch.no_grad():
        whole = store.model_batch(torch.arange(len(store)))
        for k, member in enumerate(each):
            out = member(whole)
            norms = torch.stack([x.abs().sum(dim=1) for x in out.node_embeddings], dim=1).double().numpy()
            assert np.allclose(outputs.norms[k], norms, rtol=1e-5, atol=1e-6)
            assert np.allclose(outputs.predictions[k], out.prediction.double().numpy(), rtol=1e-5, atol=1e-6)
    # What is not asked for is not kept; what is asked for is the same.
    only_norms = member_outputs(model, store, batch_size=5, predictions=False)
    assert only_norms.predictions is None and np.array_equal(only_norms.norms, outputs.norms)
    only_predictions = member_outputs(model, store, batch_size=5, norms=False)
    assert only_predictions.norms is None and np.array_equal(only_predictions.predictions, outputs.predictions)
