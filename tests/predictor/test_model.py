import pytest
import torch

from core.features import FeatureSchema, FeatureSpec
from core.graph import ArchGraph
from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig
from core.predictor.loss import magnitude_ranked_loss
from core.predictor.model import GNN_LAYERS, AutoBuildPredictor

SCHEMA = FeatureSchema((FeatureSpec("op", "categorical", ("in", "a", "b", "out")),
                        FeatureSpec("width", "numeric", low=0, high=10)))


def chain(ops, widths):
    nodes = [{"op": o, "width": w} for o, w in zip(ops, widths)]
    return ArchGraph(nodes, [(i, i + 1) for i in range(len(nodes) - 1)])


GRAPHS = [chain(["in", "a", "out"], [1, 2, 3]), chain(["in", "b", "a", "b", "out"], [1, 5, 5, 6, 2]),
          chain(["in", "out"], [0, 10])]


@pytest.mark.parametrize("gnn", sorted(GNN_LAYERS))
def test_forward_shapes_for_every_gnn(gnn):
    store = EncodedGraphs(GRAPHS, SCHEMA)
    model = AutoBuildPredictor(SCHEMA, PredictorConfig(gnn=gnn, width=8, layers=3)).eval()
    out = model(store.batch(torch.arange(3)))
    assert out.prediction.shape == (3,)
    assert len(out.graph_embeddings) == len(out.node_embeddings) == 4  # hops 0..3
    assert out.node_embeddings[0].shape == (10, 2)  # one entry per feature at hop 0
    assert all(n.shape == (10, 8) for n in out.node_embeddings[1:])
    assert all(g.shape == (3, 8) for g in out.graph_embeddings[1:])
    assert all((n >= 0).all() for n in out.node_embeddings)  # abs / ReLU: norms are sums


def test_batch_gather_matches_individual_graphs():
    store = EncodedGraphs(GRAPHS, SCHEMA)
    batch = store.batch(torch.tensor([2, 0]))
    assert batch.num_graphs == 2
    assert batch.batch.tolist() == [0, 0, 1, 1, 1]
    assert batch.edge_index.tolist() == [[0, 2, 3], [1, 3, 4]]
    x_cat, _, _ = GRAPHS[0].encode(SCHEMA)
    assert torch.equal(batch.x_cat[2:], x_cat)


def test_message_passing_follows_data_flow():
    # The first node's embedding at any hop cannot depend on later nodes (modules look upstream).
    model = AutoBuildPredictor(SCHEMA, PredictorConfig(width=8, layers=2)).eval()
    a = EncodedGraphs([chain(["in", "a", "out"], [1, 2, 3])], SCHEMA)
    b = EncodedGraphs([chain(["in", "b", "out"], [1, 9, 3])], SCHEMA)
    ea = model(a.batch(torch.tensor([0]))).node_embeddings
    eb = model(b.batch(torch.tensor([0]))).node_embeddings
    assert all(torch.allclose(x[0], y[0]) for x, y in zip(ea, eb))
    assert not torch.allclose(ea[2][2], eb[2][2])


@pytest.mark.parametrize("kwargs", [{"gnn": "transformer"}, {"width": 0}, {"layers": -1}, {"layers": 2.5}])
def test_config_is_validated(kwargs):
    with pytest.raises(ValueError):
        PredictorConfig(**kwargs)


def test_gatv2_self_loops_added_once_match_pyg_per_layer_loops():
    # The model appends the loops once per batch; PyG's default layer adds them itself every call.
    from torch_geometric.nn import GATv2Conv

    torch.manual_seed(0)
    store = EncodedGraphs(GRAPHS, SCHEMA)
    model = AutoBuildPredictor(SCHEMA, PredictorConfig(gnn="gatv2", width=8, layers=3)).eval()
    batch = store.batch(torch.arange(3))
    ours = model(batch).prediction
    for i, conv in enumerate(model.convs):
        reference = GATv2Conv(conv.in_channels, conv.out_channels, heads=1)  # add_self_loops=True
        reference.load_state_dict(conv.state_dict())
        model.convs[i] = reference
    model.adds_self_loops = False
    assert torch.allclose(ours, model(batch).prediction, atol=1e-6)


@pytest.mark.parametrize("gnn", sorted(GNN_LAYERS))
@pytest.mark.parametrize("dense", [True, False])
def test_the_bias_right_before_batch_norm_gets_its_exact_zero_gradient(gnn, dense):
    """BatchNorm cancels the layer's last bias, so its gradient is 0, not the rounding noise autograd gives."""
    schema = FeatureSchema((FeatureSpec("op", "categorical", ("in", "a", "out")),))
    graphs = ([ArchGraph([{"op": "in"}, {"op": "a"}, {"op": "out"}], [(0, 1), (1, 2), (0, 2)])] * 3
              + [ArchGraph([{"op": "in"}, {"op": "out"}], [(0, 1)])] * 3)
    store = EncodedGraphs(graphs, schema, dense=dense)
    torch.manual_seed(0)
    model = AutoBuildPredictor(schema, PredictorConfig(gnn=gnn, width=8, layers=2)).train()
    out = model(store.model_batch(torch.arange(len(store))))
    magnitude_ranked_loss(out.prediction, torch.linspace(-1, 1, len(store)), out.graph_embeddings)[0].backward()
    biases = {"graphconv": lambda c: c.lin_rel.bias, "gatv2": lambda c: c.bias, "gin": lambda c: c.nn[-1].bias}[gnn]
    for conv in model.convs:
        assert torch.equal(biases(conv).grad, torch.zeros_like(biases(conv).grad))
    assert all(p.grad.abs().sum() > 0 for name, p in model.named_parameters() if "weight" in name and "norms" not in name)
