"""The fused GATv2 layer (attention, BatchNorm, ReLU, residual as one autograd node) equals its definition."""
import dataclasses

import pytest
import torch
from torch import nn
from torch_geometric.nn import GATv2Conv

from core.features import FeatureSchema, FeatureSpec
from core.graph import ArchGraph
from core.predictor.batching import EncodedGraphs
from core.predictor.dense import DenseGraphs
from core.predictor.gatv2_block import GATv2BlockFunction, gatv2_block

SCHEMA = FeatureSchema((FeatureSpec("op", "categorical", ("in", "a", "out")),))


def small_store(same_size: bool) -> EncodedGraphs:
    """Four graphs of four nodes (every batch full) or, with ``same_size`` false, six of two to four (padded)."""
    graphs = [ArchGraph([{"op": "in"}, {"op": "a"}, {"op": "a"}, {"op": "out"}], [(0, 1), (0, 2), (1, 3), (2, 3)]),
              ArchGraph([{"op": "in"}, {"op": "a"}, {"op": "out"}, {"op": "a"}], [(0, 1), (1, 2), (0, 2)])]
    if not same_size:
        graphs.append(ArchGraph([{"op": "in"}, {"op": "out"}], [(0, 1)]))
    return EncodedGraphs(graphs * 2, SCHEMA, dense=True)


def _graphs(store: EncodedGraphs) -> DenseGraphs:
    batch = store.dense_batch(torch.arange(len(store)))
    return DenseGraphs(dataclasses.replace(batch, adj=batch.adj.double(), mean_adj=batch.mean_adj.double()))


def _edges_with_self_loops(store: EncodedGraphs) -> torch.Tensor:
    """The PyG batch's edges plus one self-loop per node, as AutoBuildPredictor.forward appends them."""
    batch = store.batch(torch.arange(len(store)))
    loops = torch.arange(batch.x_cat.shape[0])
    return torch.cat([batch.edge_index, loops.expand(2, -1)], dim=1)


def _layer(d_in: int, d: int):
    torch.manual_seed(0)
    conv, norm = GATv2Conv(d_in, d, heads=1, add_self_loops=False).double(), nn.BatchNorm1d(d).double()
    with torch.no_grad():  # PyG starts the biases at 0; other values check that each goes where it belongs
        for bias in (conv.lin_l.bias, conv.lin_r.bias, conv.bias, norm.bias):
            bias.uniform_(-0.5, 0.5)
        norm.weight.uniform_(0.5, 1.5)
    return conv, norm


def _parameters(conv, norm):
    return [conv.lin_l.weight, conv.lin_l.bias, conv.lin_r.weight, conv.lin_r.bias, conv.att, conv.bias, norm.weight,
            norm.bias]


@pytest.mark.parametrize("same_size", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("residual", [True, False])
def test_fused_layer_equals_the_modules_it_fuses(same_size, training, residual):
    store = small_store(same_size)
    graphs = _graphs(store)
    assert graphs.batch.full == same_size
    d = 5
    h = torch.rand(graphs.batch.x_cat.shape[0], d, dtype=torch.float64, requires_grad=True)
    conv, norm = _layer(d, d)
    conv_ref, norm_ref = _layer(d, d)
    for module in (conv, norm, conv_ref, norm_ref):
        module.train(training)
    if not training:
        with torch.no_grad():
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
            norm_ref.load_state_dict(norm.state_dict())
    fused = gatv2_block(conv, norm, h, graphs, residual)
    out = torch.relu(norm_ref(conv_ref(h, _edges_with_self_loops(store))))
    reference = out + h if residual else out
    assert torch.allclose(fused, reference, rtol=1e-10, atol=1e-12)
    assert torch.equal(norm.num_batches_tracked, norm_ref.num_batches_tracked)
    assert torch.allclose(norm.running_mean, norm_ref.running_mean, atol=1e-12)
    assert torch.allclose(norm.running_var, norm_ref.running_var, atol=1e-12)
    weights = torch.randn_like(fused)
    grads = torch.autograd.grad((fused * weights).sum(), [h] + _parameters(conv, norm))
    grads_ref = torch.autograd.grad((reference * weights).sum(), [h] + _parameters(conv_ref, norm_ref))
    for a, b in zip(grads, grads_ref):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("same_size", [True, False])
def test_fused_layer_passes_gradcheck(same_size):
    store = small_store(same_size)
    graphs = _graphs(store)
    real = None if graphs.batch.full else graphs.real
    conv, norm = _layer(3, 4)
    h = torch.rand(graphs.batch.x_cat.shape[0], 3, dtype=torch.float64, requires_grad=True)

    def layer(h, w_l, b_l, w_r, b_r, att, bias, gamma, beta):
        return GATv2BlockFunction.apply(h, graphs.attention_rows, graphs.b, graphs.n, real, w_l, w_r, b_l, b_r, att,
                                        bias, gamma, beta, norm.running_mean.clone(), norm.running_var.clone(), True,
                                        0.1, 1e-5, conv.negative_slope, False)

    assert torch.autograd.gradcheck(layer, (h, *_parameters(conv, norm)))


@pytest.mark.parametrize("make, message", [
    (lambda: GATv2Conv(3, 4, heads=2), "one head"),
    (lambda: GATv2Conv(3, 4, edge_dim=2), "no edge features"),
    (lambda: GATv2Conv(3, 4, residual=True), "no residual"),
    (lambda: GATv2Conv(3, 4, share_weights=True), "share_weights=False"),
    (lambda: GATv2Conv(3, 4, bias=False), "default biases"),
    (lambda: GATv2Conv(3, 4, dropout=0.2), "dropout"),
])
def test_fused_layer_refuses_a_gatv2_it_does_not_compute(make, message):
    store = small_store(True)
    graphs = DenseGraphs(store.dense_batch(torch.arange(len(store))))
    h = torch.rand(graphs.batch.x_cat.shape[0], 3)
    with pytest.raises(ValueError, match=message):
        gatv2_block(make(), nn.BatchNorm1d(4), h, graphs, False)


def test_fused_layer_takes_a_dropout_setting_it_does_not_use_in_evaluation():
    store = small_store(False)
    graphs = DenseGraphs(store.dense_batch(torch.arange(len(store))))
    torch.manual_seed(0)
    conv, norm = GATv2Conv(3, 4, dropout=0.2).eval(), nn.BatchNorm1d(4).eval()
    h = torch.rand(graphs.batch.x_cat.shape[0], 3)
    reference = torch.relu(norm(conv(h, _edges_with_self_loops(store))))
    assert torch.allclose(gatv2_block(conv, norm, h, graphs, False), reference, atol=1e-6)
