"""The same seed trains the same model whatever torch's thread count (1 vs 2 threads, bit for bit)."""
import numpy as np
import pytest
import torch

from core import metrics
from core.predictor import (
    PredictorConfig,
    TrainConfig,
    predict_encoded,
    train_predictor,
)
from core.predictor.batching import EncodedGraphs
from core.spaces import get_space


@pytest.fixture(scope="module")
def nb201():
    space = get_space("nasbench201")
    table = space.metrics_table().iloc[:360]
    store = EncodedGraphs([space.to_graph(a) for a in table.arch], space.schema())
    return store, table.baseline_accuracy.to_numpy()


@pytest.mark.parametrize("gnn", ["graphconv", "gatv2"])
@pytest.mark.slow
def test_thread_count_does_not_change_the_trained_model(nb201, gnn):
    store, y = nb201
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            result = train_predictor(store, y, PredictorConfig(gnn=gnn),
                                     TrainConfig(epochs=6, min_steps=0, batch_size=32, eval_every=2, seed=3))
            pred, norms = predict_encoded(result.model, store, result.val_ids)
            results.append((result, pred, norms, metrics.spearman(pred, y[result.val_ids])))
            assert torch.get_num_threads() == threads  # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    (a, pred_a, norms_a, rho_a), (b, pred_b, norms_b, rho_b) = results
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.best_epoch == b.best_epoch and a.hop_moments == b.hop_moments
    assert np.array_equal(pred_a, pred_b) and np.array_equal(norms_a, norms_b)
    assert rho_a == rho_b
    for (name, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(pa, pb), name
