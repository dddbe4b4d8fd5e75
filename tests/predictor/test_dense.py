"""The dense batched path gives what the PyG path gives, on the same weights (within float tolerance)."""
import dataclasses

import pytest
import torch

from core.features import FeatureSchema, FeatureSpec
from core.graph import ArchGraph
from core.predictor import batching
from core.predictor.batching import (
    DENSE_MAX_NODES,
    DenseBatch,
    EncodedGraphs,
    GraphBatch,
)
from core.predictor.config import PredictorConfig
from core.predictor.loss import magnitude_ranked_loss
from core.predictor.model import GNN_LAYERS, AutoBuildPredictor

SCHEMA = FeatureSchema((FeatureSpec("op", "categorical", ("in", "a", "b", "out")),
                        FeatureSpec("width", "numeric", low=0, high=10)))


def graph(ops, edges, widths=None):
    widths = widths or list(range(len(ops)))
    return ArchGraph([{"op": o, "width": w} for o, w in zip(ops, widths)], edges)


# Different sizes (padding), a diamond (in-degree 2, mean over two), two sources, an isolated node.
GRAPHS = [
    graph(["in", "a", "out"], [(0, 1), (1, 2)]),
    graph(["in", "a", "b", "a", "out"], [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)], [1, 5, 5, 6, 2]),
    graph(["in", "out"], [(0, 1)], [0, 10]),
    graph(["in", "in", "b", "out", "a"], [(0, 2), (1, 2), (2, 3)], [3, 4, 9, 1, 7]),
] * 3


def _float64(batch):
    """The batch with its float tensors in float64, so the comparison is not drowned in float32 rounding."""
    return dataclasses.replace(batch, **{f.name: getattr(batch, f.name).double() for f in dataclasses.fields(batch)
                                         if torch.is_tensor(getattr(batch, f.name))
                                         and getattr(batch, f.name).is_floating_point()})


def _flat(out):
    return [out.prediction, *out.graph_embeddings, *out.node_embeddings]


@pytest.mark.parametrize("gnn", sorted(GNN_LAYERS))
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.slow
def test_dense_path_matches_pyg_path_on_the_same_weights(gnn, training):
    store = EncodedGraphs(GRAPHS, SCHEMA, dense=True)
    assert store.dense
    ids = torch.tensor([3, 0, 5, 2, 1, 7, 4])
    torch.manual_seed(0)
    model = AutoBuildPredictor(SCHEMA, PredictorConfig(gnn=gnn, width=8, layers=3)).train(training).double()
    sparse_batch, dense_batch = store.batch(ids), store.dense_batch(ids)
    assert isinstance(sparse_batch, GraphBatch) and isinstance(dense_batch, DenseBatch)
    sparse, dense = model(_float64(sparse_batch)), model(_float64(dense_batch))
    for a, b in zip(_flat(sparse), _flat(dense)):
        assert a.shape == b.shape and a.dtype == torch.float64
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    # The gradients of the loss agree too, so training takes the same steps (up to rounding).
    grads = []
    for out in (sparse, dense):
        model.zero_grad()
        y = torch.linspace(-1, 1, ids.numel(), dtype=torch.float64)
        magnitude_ranked_loss(out.prediction, y, out.graph_embeddings)[0].backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)


def test_batch_norm_statistics_count_real_nodes_only():
    store = EncodedGraphs(GRAPHS, SCHEMA, dense=True)
    ids = torch.arange(len(GRAPHS))
    stats = []
    for batch in (store.batch(ids), store.dense_batch(ids)):
        torch.manual_seed(0)
        model = AutoBuildPredictor(SCHEMA, PredictorConfig(width=8, layers=2)).train()
        model(batch)
        stats.append([(n.running_mean.clone(), n.running_var.clone()) for n in model.norms])
    for (ma, va), (mb, vb) in zip(*stats):
        assert torch.allclose(ma, mb, atol=1e-5) and torch.allclose(va, vb, rtol=1e-4, atol=1e-5)


def test_model_batch_is_dense_for_bounded_graphs_and_pyg_for_large_ones():
    small = EncodedGraphs(GRAPHS[:2], SCHEMA, dense=True)
    assert isinstance(small.model_batch(torch.arange(2)), DenseBatch)
    assert isinstance(EncodedGraphs(GRAPHS[:2], SCHEMA).model_batch(torch.arange(2)), DenseBatch)  # the default
    assert isinstance(EncodedGraphs(GRAPHS[:2], SCHEMA, dense=False).model_batch(torch.arange(2)), GraphBatch)
    n = DENSE_MAX_NODES + 1
    big = EncodedGraphs([graph(["in"] + ["a"] * (n - 2) + ["out"], [(i, i + 1) for i in range(n - 1)])], SCHEMA,
                        dense=True)
    assert not big.dense and isinstance(big.model_batch(torch.arange(1)), GraphBatch)
    with pytest.raises(ValueError, match="not batched densely"):
        big.dense_batch(torch.arange(1))
    model = AutoBuildPredictor(SCHEMA, PredictorConfig(width=8, layers=2)).eval()
    assert model(big.model_batch(torch.arange(1))).node_embeddings[-1].shape == (n, 8)


@pytest.mark.parametrize("same_size", [True, False])
@pytest.mark.parametrize("numeric", [True, False])
@pytest.mark.parametrize("cached", [True, False])
def test_dense_batch_holds_the_pyg_batch(same_size, numeric, cached, monkeypatch):
    """Same node rows in the same order, and adj[b, dst, src] counting exactly the PyG batch's edges,
    whether the store keeps every adjacency ready or builds a batch's from the edge lists (a big pool)."""
    if not cached:
        monkeypatch.setattr(batching, "DENSE_CACHE_ENTRIES", 0)
    schema = SCHEMA if numeric else FeatureSchema(SCHEMA.categorical)
    graphs = [g for g in GRAPHS if g.num_nodes == 5] if same_size else GRAPHS
    graphs = [ArchGraph([{k: v for k, v in node.items() if numeric or k == "op"} for node in g.nodes], g.edges)
              for g in graphs]
    store = EncodedGraphs(graphs + [graphs[0]], schema)  # a repeated graph too
    assert store.same_size == same_size and (store._adj_cache is not None) == cached
    ids = torch.tensor([len(store) - 1, 2, 0, 1, 2])
    sparse, dense = store.batch(ids), store.dense_batch(ids)
    assert dense.full == same_size
    assert torch.equal(sparse.x_cat, dense.x_cat) and torch.equal(sparse.x_num, dense.x_num)
    n = dense.max_nodes
    slot = dense.real[sparse.edge_index]  # padded slot b*n + v of both ends of every edge
    expected = torch.zeros(ids.numel() * n * n)
    expected.index_put_((slot[1] // n * n * n + slot[1] % n * n + slot[0] % n,), torch.ones(slot.shape[1]),
                        accumulate=True)
    assert torch.equal(dense.adj.reshape(-1), expected)
    degree = dense.adj.sum(-1, keepdim=True)
    assert torch.allclose(dense.mean_adj * degree.clamp(min=1), dense.adj)
