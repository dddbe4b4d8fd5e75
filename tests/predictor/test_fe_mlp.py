import torch

from core.features import FeatureSchema, FeatureSpec
from core.predictor.fe_mlp import FeatureEmbedding

SCHEMA = FeatureSchema((
    FeatureSpec("op", "categorical", ("conv", "pool", "skip")),
    FeatureSpec("kernel", "categorical", ("3", "5", "7")),
    FeatureSpec("channels", "numeric", low=16, high=256),
))


def test_one_non_negative_scalar_per_feature():
    fe = FeatureEmbedding(SCHEMA)
    with torch.no_grad():
        for emb in fe.categorical:
            emb.weight.uniform_(-2, 2)  # negative weights must still come out non-negative
    x_cat = torch.tensor([[0, 1], [2, 0], [1, 2]])
    x_num = torch.tensor([[0.0], [0.5], [1.0]])
    out = fe(x_cat, x_num)
    assert out.shape == (3, 3)
    assert (out >= 0).all()
    # Entry f depends on feature f only: changing the kernel leaves the op entry alone.
    out2 = fe(torch.tensor([[0, 2], [2, 0], [1, 2]]), x_num)
    assert torch.equal(out[:, 0], out2[:, 0]) and torch.equal(out[:, 2], out2[:, 2])
    assert not torch.equal(out[0, 1], out2[0, 1])


def test_importance_table_lists_every_feature_value():
    fe = FeatureEmbedding(SCHEMA)
    table = fe.importance_table(numeric_points=3)
    assert list(table.columns) == ["feature", "value", "importance"]
    assert set(table[table.feature == "op"].value) == {"conv", "pool", "skip"}
    assert list(table[table.feature == "channels"].value) == ["16", "136", "256"]
    assert (table.importance >= 0).all()
    # The categorical importance is exactly |embedding|: the value the forward pass uses.
    w = fe.categorical[1].weight[2, 0].abs().item()
    assert table[(table.feature == "kernel") & (table.value == "7")].importance.item() == w
