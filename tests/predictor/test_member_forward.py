"""The member-dimension forward (core.predictor.member_forward) computes what each member's own module does:
predictions, hop norms, gradients and BatchNorm running statistics, on padded and full dense batches."""
import pytest
import torch

from core.features import FeatureSchema, FeatureSpec
from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig
from core.predictor.loss import hop_norms
from core.predictor.member_forward import stacked_forward
from core.predictor.members import MemberTraining
from core.predictor.model import AutoBuildPredictor
from tests.predictor.test_dense import GRAPHS, SCHEMA, _float64

# Two numeric features and two categorical ones, so every part of the FE-MLP is exercised.
WIDE = FeatureSchema((FeatureSpec("op", "categorical", ("in", "a", "b", "out")),
                      FeatureSpec("kind", "categorical", ("x", "y")),
                      FeatureSpec("width", "numeric", low=0, high=10),
                      FeatureSpec("depth", "numeric", low=0, high=4)))


def _graphs(schema):
    if schema is SCHEMA:
        return GRAPHS
    from core.graph import ArchGraph

    return [ArchGraph([{**n, "kind": "xy"[i % 2], "depth": i % 4} for i, n in enumerate(g.nodes)], g.edges)
            for g in GRAPHS]


@pytest.mark.parametrize("gnn", ["graphconv", "gin"])
@pytest.mark.parametrize("schema", [SCHEMA, WIDE], ids=["one-numeric", "two-of-each"])
def test_stacked_members_match_their_own_modules(gnn, schema):
    store = EncodedGraphs(_graphs(schema), schema, dense=True)
    torch.manual_seed(0)
    config = PredictorConfig(gnn=gnn, width=8, layers=3, members=1)
    # float64, so that the comparison is exact up to summation order, not drowned in float32 rounding
    members = [AutoBuildPredictor(schema, config).double() for _ in range(3)]
    reference = [AutoBuildPredictor(schema, config).double() for _ in range(3)]
    for ref, member in zip(reference, members):
        ref.load_state_dict(member.state_dict())
        ref.train()
    training = MemberTraining(members)
    assert training.stacked_settings is not None  # the member-dimension path, not vmap
    training.train()
    for ids in (torch.tensor([3, 0, 5, 2, 1, 7, 4]), torch.tensor([0, 4, 8])):  # padded; then one size (no padding)
        target = torch.linspace(-1, 1, len(ids), dtype=torch.float64)
        batch = _float64(store.model_batch(ids))
        stacked_pred, stacked_norms = stacked_forward(training.params, training.buffers, batch,
                                                     **training.stacked_settings)
        outs = [ref(batch) for ref in reference]
        for k, out in enumerate(outs):
            torch.testing.assert_close(stacked_pred[k], out.prediction, rtol=1e-9, atol=1e-9)
            torch.testing.assert_close(stacked_norms[k], hop_norms(out.graph_embeddings), rtol=1e-9, atol=1e-9)
        # gradients of the same loss (through predictions and hop norms) reach the stacked weights as they
        # reach each module's own
        ((stacked_pred * target).sum() + stacked_norms.square().mean()).backward()
        for out in outs:
            ((out.prediction * target).sum() + hop_norms(out.graph_embeddings).square().mean() / len(outs)).backward()
        for name, stacked in training.params.items():
            for k, ref in enumerate(reference):
                grad = dict(ref.named_parameters())[name].grad
                expected = torch.zeros_like(stacked[k]) if grad is None else grad
                torch.testing.assert_close(stacked.grad[k], expected, rtol=1e-9, atol=1e-9, msg=lambda m, name=name: f"{name}: {m}")
        for name, stacked in training.buffers.items():  # running statistics moved the same way
            for k, ref in enumerate(reference):
                torch.testing.assert_close(stacked[k], dict(ref.named_buffers())[name].to(stacked.dtype))
        for tensor in training.params.values():
            tensor.grad = None
        for ref in reference:
            ref.zero_grad()
