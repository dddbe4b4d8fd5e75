"""Training on real NAS-Bench-201 cells: the predictor learns, and the rank term is what orders norms."""
import numpy as np
import pytest
import torch

from core import metrics
from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig, TrainConfig
from core.predictor.train import predict_encoded, train_predictor
from core.spaces import get_space

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


@pytest.fixture(scope="module")
def data():
    space = get_space("nasbench201")
    table = space.metrics_table()
    rng = np.random.default_rng(1)
    rows = rng.permutation(len(table))
    train, test = table.iloc[rows[:300]], table.iloc[rows[300:1300]]
    schema = space.schema()
    encode = lambda t: EncodedGraphs([space.to_graph(a) for a in t.arch], schema)  # noqa: E731
    return encode(train), train.baseline_accuracy.to_numpy(), encode(test), test.baseline_accuracy.to_numpy()


def fit(data, lam, seed=0):
    store, y, test_store, y_test = data
    # One member: the rank term's effect on a predictor's norms (the paper's claim), not the ensemble's.
    result = train_predictor(store, y, PredictorConfig(width=16, layers=3, members=1),
                             TrainConfig(epochs=40, lam=lam, seed=seed, val_fraction=0.0))
    pred, norms = predict_encoded(result.model, test_store)
    return result, metrics.spearman(pred, y_test), metrics.hop_norm_spearman(norms, y_test)


@pytest.mark.slow
def test_heldout_spearman_and_hop_norms_with_rank_loss(data):
    result, rho, hops = fit(data, lam=1.0)
    assert rho > 0.6, rho
    assert min(hops) > 0.3, hops  # the paper's claim: norms rank architectures at every hop
    assert len(result.hop_moments) == 4 and all(s > 0 for _, s in result.hop_moments)


@pytest.mark.slow
def test_without_rank_loss_norms_do_not_rank(data):
    _, rho, hops = fit(data, lam=0.0)
    _, _, hops_ranked = fit(data, lam=1.0)
    assert rho > 0.2, rho  # still a regressor that learned something
    assert min(hops) < min(hops_ranked) - 0.2, (hops, hops_ranked)


@pytest.mark.slow
def test_training_is_reproducible(data):
    store, y, test_store, _ = data
    a = train_predictor(store, y, PredictorConfig(width=8, layers=2), TrainConfig(epochs=3, seed=7))
    b = train_predictor(store, y, PredictorConfig(width=8, layers=2), TrainConfig(epochs=3, seed=7))
    assert np.array_equal(predict_encoded(a.model, test_store)[0], predict_encoded(b.model, test_store)[0])


def test_progress_and_stop():
    space = get_space("nasbench201")
    table = space.metrics_table().iloc[:64]
    store = EncodedGraphs([space.to_graph(a) for a in table.arch], space.schema())
    seen = []
    result = train_predictor(store, table.baseline_accuracy.to_numpy(), PredictorConfig(width=8, layers=2),
                             TrainConfig(epochs=50, eval_every=1), progress=seen.append,
                             should_stop=lambda: len(seen) >= 3)
    assert [r.epoch for r in seen] == [1, 2, 3] and len(result.history) == 3
    assert all(r.val_spearman is not None for r in seen)


def test_every_member_keeps_its_own_best_validation_epoch():
    store, y = _small_real()
    result = train_predictor(store, y, PredictorConfig(width=8, layers=2, members=3),
                             TrainConfig(epochs=12, eval_every=1, min_steps=0, val_fraction=0.25, lr=3e-2))
    passes = [h for h in result.history if h["member_val_spearman"] is not None]
    assert len(passes) == 12 and all(len(h["member_val_spearman"]) == 3 for h in passes)
    for k, member in enumerate(result.model.members):
        seen = [(h["member_val_spearman"][k], h["epoch"]) for h in passes]
        best_rho, best_epoch = max(seen, key=lambda s: (s[0], -s[1]))
        assert result.members["best_epochs"][k] == best_epoch
        fold = np.array(result.members["heldout_rows"][k])  # the rows member k held out (its own)
        pred, _ = predict_encoded(member, store, fold)
        assert metrics.spearman(pred, y[fold]) == pytest.approx(best_rho, abs=1e-9)
    # The members started from different weights, so they did not all peak at once.
    assert len({tuple(p.detach().flatten()[:5].tolist()) for p in (m.head[0].weight for m in result.model.members)}) == 3


def _small_real(n=80):
    space = get_space("nasbench201")
    table = space.metrics_table().iloc[np.random.default_rng(3).permutation(15625)[:n]]
    store = EncodedGraphs([space.to_graph(a) for a in table.arch], space.schema())
    return store, table.baseline_accuracy.to_numpy()


def test_the_best_validation_epoch_is_restored():
    store, y = _small_real()
    result = train_predictor(store, y, PredictorConfig(width=8, layers=2, members=1),
                             TrainConfig(epochs=12, eval_every=1, min_steps=0, val_fraction=0.25, lr=3e-2))
    seen = [(h["val_spearman"], h["epoch"]) for h in result.history if h["val_spearman"] is not None]
    best_rho, best_epoch = max(seen, key=lambda s: (s[0], -s[1]))  # the first of equal bests, as training keeps
    assert result.restored_best and result.best_epoch == best_epoch
    pred, _ = predict_encoded(result.model, store, result.val_ids)
    assert metrics.spearman(pred, y[result.val_ids]) == pytest.approx(best_rho, abs=1e-9)


def test_without_a_validation_split_the_last_epoch_is_kept():
    store, y = _small_real()
    result = train_predictor(store, y, PredictorConfig(width=8, layers=2),
                             TrainConfig(epochs=4, min_steps=0, val_fraction=0.0))
    assert not result.restored_best and result.best_epoch == len(result.history) == 4
    kept_last = train_predictor(store, y, PredictorConfig(width=8, layers=2),
                                TrainConfig(epochs=4, min_steps=0, val_fraction=0.25, keep_best=False))
    assert not kept_last.restored_best and kept_last.best_epoch == 4


def test_the_torch_free_gnn_names_are_the_layers_built():
    from core.predictor.config import GNN_NAMES
    from core.predictor.model import GNN_LAYERS

    assert sorted(GNN_NAMES) == sorted(GNN_LAYERS)


def test_members_hold_out_different_rows():
    from core.predictor.train import member_folds, training_ids

    folds = member_folds(100, 0.1, seed=4, members=5)
    assert [f.size for f in folds] == [10] * 5
    assert len(np.unique(np.concatenate(folds))) == 50  # disjoint while 5 x 10% <= 100%
    one_model_split = np.sort(np.random.default_rng(4).permutation(100)[:10])  # a single predictor's, as ever
    assert np.array_equal(folds[0], one_model_split)
    assert np.array_equal(training_ids(100, folds), np.arange(100))  # the ensemble learns from every row
    wrapped = member_folds(20, 0.4, seed=0, members=4)  # 4 x 8 rows of 20: wraps round
    assert all(f.size == 8 for f in wrapped) and len(np.unique(np.concatenate(wrapped))) == 20
    assert member_folds(30, 0.0, seed=0, members=3)[2].size == 0


@pytest.mark.parametrize("gnn", ["graphconv", "gatv2"])
def test_a_member_never_learns_from_the_rows_it_holds_out(gnn):
    store, y = _small_real(60)
    config = TrainConfig(epochs=3, min_steps=0, val_fraction=0.2, keep_best=False, seed=2)
    first = train_predictor(store, y, PredictorConfig(gnn=gnn, width=8, layers=2, members=3), config)
    fold = np.array(first.members["heldout_rows"][0])
    shuffled = y.copy()
    shuffled[fold] = y[fold][::-1]  # member 0's held-out targets swapped among themselves (same mean and std)
    second = train_predictor(store, shuffled, PredictorConfig(gnn=gnn, width=8, layers=2, members=3), config)
    weights = [[p.detach().clone() for p in member.parameters()] for member in (first.model.members[0],
                                                                                second.model.members[0])]
    assert all(torch.equal(a, b) for a, b in zip(*weights))  # member 0 never saw those targets
    others = [first.model.members[1].head[0].weight, second.model.members[1].head[0].weight]
    assert not torch.equal(*others)  # member 1 learnt from them
    ids, pred, norms = second.heldout  # out-of-fold figures cover every held-out row once
    assert np.array_equal(ids, np.unique(np.concatenate([np.array(f) for f in second.members["heldout_rows"]])))
    assert pred.shape == ids.shape and norms.shape == (ids.size, 3)


@pytest.mark.parametrize("gnn", ["graphconv", "gatv2"])
def test_a_batch_a_member_holds_out_whole_adds_nothing_to_its_loss(gnn):
    from core.predictor.members import MemberTraining
    from core.predictor.model import AutoBuildPredictor

    store, y = _small_real(12)
    torch.manual_seed(0)
    members = [AutoBuildPredictor(store.schema, PredictorConfig(gnn=gnn, width=8, layers=2, members=1))
               for _ in range(2)]
    training = MemberTraining(members)
    training.train()
    ids = torch.arange(8)
    target = torch.tensor((y[:8] - y[:8].mean()) / y[:8].std(), dtype=torch.float32)
    learns = torch.ones(2, 8, dtype=torch.bool)
    learns[0] = False  # member 0 holds out every graph of this batch
    loss, mse, rank = training.loss(store.model_batch(ids), target, 1.0, 0.1, learns)
    assert torch.isfinite(loss) and np.isfinite(mse) and np.isfinite(rank)
    loss.backward()
    grads = [p.grad for p in training.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
