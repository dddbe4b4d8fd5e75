"""The fused GraphConv layer (conv, BatchNorm, ReLU, residual as one autograd node) equals its definition."""
import dataclasses

import pytest
import torch
from torch import nn
from torch_geometric.nn import GraphConv

from core.predictor.dense import DenseGraphs
from core.predictor.graphconv_block import GraphConvBlockFunction, graphconv_block
from tests.predictor.small_graphs import small_store


def _layer(d_in: int, d: int):
    torch.manual_seed(0)
    conv, norm = GraphConv(d_in, d, aggr="mean").double(), nn.BatchNorm1d(d).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.2, 0.2)
    return conv, norm


@pytest.mark.parametrize("same_size", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("residual", [True, False])
def test_fused_layer_equals_the_modules_it_fuses(same_size, training, residual):
    store = small_store(same_size)
    batch = store.dense_batch(torch.arange(len(store)))
    assert batch.full == same_size
    graphs = DenseGraphs(dataclasses.replace(batch, adj=batch.adj.double(), mean_adj=batch.mean_adj.double()))
    d = 5
    h = torch.rand(batch.x_cat.shape[0], d, dtype=torch.float64, requires_grad=True)
    conv, norm = _layer(d, d)
    conv_ref, norm_ref = _layer(d, d)
    norm.train(training), norm_ref.train(training)
    if not training:
        with torch.no_grad():
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
            norm_ref.load_state_dict(norm.state_dict())
    edge_index = store.batch(torch.arange(len(store))).edge_index
    fused = graphconv_block(conv, norm, h, graphs, residual)
    out = torch.relu(norm_ref(conv_ref(h, edge_index)))
    reference = out + h if residual else out
    assert torch.allclose(fused, reference, rtol=1e-10, atol=1e-12)
    assert torch.equal(norm.num_batches_tracked, norm_ref.num_batches_tracked)
    assert torch.allclose(norm.running_mean, norm_ref.running_mean, atol=1e-12)
    assert torch.allclose(norm.running_var, norm_ref.running_var, atol=1e-12)
    weights = torch.randn_like(fused)
    params = [h, conv.lin_rel.weight, conv.lin_rel.bias, conv.lin_root.weight, norm.weight, norm.bias]
    params_ref = [h, conv_ref.lin_rel.weight, conv_ref.lin_rel.bias, conv_ref.lin_root.weight, norm_ref.weight,
                  norm_ref.bias]
    grads = torch.autograd.grad((fused * weights).sum(), params)
    grads_ref = torch.autograd.grad((reference * weights).sum(), params_ref)
    for a, b in zip(grads, grads_ref):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-11)
    if training:  # BatchNorm removes any shift b: its gradient is exactly 0, not rounding noise
        assert torch.equal(grads[2], torch.zeros_like(grads[2]))


@pytest.mark.parametrize("same_size", [True, False])
def test_fused_layer_passes_gradcheck(same_size):
    store = small_store(same_size)
    batch = store.dense_batch(torch.arange(len(store)))
    real = None if batch.full else batch.real
    conv, norm = _layer(3, 4)
    h = torch.rand(batch.x_cat.shape[0], 3, dtype=torch.float64, requires_grad=True)
    mean_adj = batch.mean_adj.double()
    inputs = (h, conv.lin_rel.weight, conv.lin_root.weight, conv.lin_rel.bias, norm.weight, norm.bias)

    def layer(h, w_rel, w_root, bias, gamma, beta):
        return GraphConvBlockFunction.apply(h, mean_adj, real, w_rel, w_root, bias, gamma, beta,
                                            norm.running_mean.clone(), norm.running_var.clone(), True, 0.1, 1e-5,
                                            False)

    assert torch.autograd.gradcheck(layer, inputs)


def test_fused_layer_refuses_a_graphconv_it_does_not_compute():
    store = small_store(True)
    graphs = DenseGraphs(store.dense_batch(torch.arange(len(store))))
    h = torch.rand(graphs.batch.x_cat.shape[0], 3)
    with pytest.raises(ValueError, match="mean aggregation"):
        graphconv_block(GraphConv(3, 4, aggr="add"), nn.BatchNorm1d(4), h, graphs, False)
