"""core.predictor.ensemble and core.predictor.members: K members trained at once and read as one predictor."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.predictor import members as members_module
from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig, TrainConfig
from core.predictor.collapse import collapse_floor, collapsed, collapsed_hops, hop_ceilings, tied_head
from core.predictor.ensemble import EnsemblePredictor
from core.predictor.model import AutoBuildPredictor
from core.predictor.train import member_folds, predict_encoded, train_predictor
from core.runs.run import Run
from core.scoring.modules import member_norms, node_scores
from core.spaces import get_space
from core.tables.sampling import sample_benchmark
from core.tables.validated import validate_table
from core.workflow import members_note, train_from_table

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


def _store(n=60, seed=0):
    space = get_space("nasbench-graph")
    frame = sample_benchmark("nasbench-graph", "citeseer", n, seed)
    graphs = [space.to_graph(a) for a in frame["arch"]]
    return EncodedGraphs(graphs, space.schema(graphs)), frame["valid_perf"].to_numpy()


SMALL = dict(width=8, layers=2)
QUICK = dict(epochs=3, min_steps=0, val_fraction=0.2, seed=1)


def test_a_member_whose_held_out_targets_all_tie_keeps_its_last_weights():
    # Its validation Spearman is never defined, so it has no best epoch to go back to (this crashed once).
    store, y = _store()
    config = TrainConfig(**QUICK)
    folds = member_folds(len(store), config.val_fraction, config.seed, 3)
    y = y.copy()
    y[folds[1]] = float(np.median(y))
    result = train_predictor(store, y, PredictorConfig(members=3, **SMALL), config)
    epochs = len(result.history)
    assert result.members["best_epochs"][1] == epochs
    assert result.restored_best and result.best_epoch == result.members["best_epochs"][0]
    assert np.isfinite(result.model(store.model_batch(torch.arange(len(store)))).prediction.detach().numpy()).all()


def test_the_vectorised_step_trains_the_members_as_one_after_another_would(monkeypatch):
    store, y = _store()
    together = train_predictor(store, y, PredictorConfig(members=3, **SMALL), TrainConfig(**QUICK))
    monkeypatch.setattr(members_module, "VECTORISED_GNNS", frozenset())
    apart = train_predictor(store, y, PredictorConfig(members=3, **SMALL), TrainConfig(**QUICK))
    assert [h["loss"] for h in together.history] == pytest.approx([h["loss"] for h in apart.history], rel=1e-4)
    for a, b in zip(together.model.members, apart.model.members):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.allclose(p.float(), q.float(), atol=1e-4), name


def test_one_member_is_the_single_predictor_bit_for_bit():
    store, y = _store()
    one = train_predictor(store, y, PredictorConfig(members=1, **SMALL), TrainConfig(**QUICK))
    first = train_predictor(store, y, PredictorConfig(members=2, **SMALL), TrainConfig(**QUICK))
    assert isinstance(one.model, AutoBuildPredictor) and isinstance(first.model, EnsemblePredictor)
    # Member 0 starts from the single predictor's weights (the seed's first draw).
    torch.manual_seed(QUICK["seed"])
    start = AutoBuildPredictor(store.schema, PredictorConfig(members=1, **SMALL))
    again = train_predictor(store, y, PredictorConfig(members=1, **SMALL), TrainConfig(**QUICK))
    assert all(torch.equal(p, q) for p, q in zip(one.model.state_dict().values(), again.model.state_dict().values()))
    assert start.head[0].weight.shape == first.model.members[0].head[0].weight.shape


def test_the_ensemble_score_orders_nodes_as_the_mean_of_the_members_standardised_scores(tmp_path):
    space = get_space("nasbench-graph")
    table = validate_table(sample_benchmark("nasbench-graph", "citeseer", 60, 0), space, source="t")
    run = train_from_table(table, "valid_perf", tmp_path / "r", dataset="citeseer",
                           model_config=PredictorConfig(members=3, **SMALL), train_config=TrainConfig(**QUICK)).run
    store = run.encode(table.graphs)
    norms = member_norms(run.model, store)  # [K, N, L+1]
    ens = run.model
    used = ens.hop_used.numpy()[:, None, :]
    z = (norms - ens.norm_mean.numpy()[:, None, :]) / ens.norm_std.numpy()[:, None, :]
    mean_z = (z * used).sum(0) / used.sum(0)
    scores = node_scores(run, store)
    for h in range(run.hops + 1):
        # The same order (an affine map with a positive slope).
        slope = np.polyfit(mean_z[:, h], scores[:, h], 1)[0]
        assert slope > 0 and np.corrcoef(mean_z[:, h], scores[:, h])[0, 1] == pytest.approx(1.0, abs=1e-6)
    # Predictions are the members' mean.
    pred, _ = predict_encoded(run.model, store)
    member_pred = np.mean([predict_encoded(m, store)[0] for m in run.model.members], axis=0)
    assert np.allclose(pred, member_pred, atol=1e-5)


def test_a_member_that_collapsed_at_a_hop_is_left_out_there_unless_all_did():
    rho = np.array([[0.8, 0.2, 0.9], [0.7, 0.3, 0.9], [0.6, np.nan, 0.1]])
    used = collapsed_hops(rho)
    assert used[:, 0].tolist() == [1, 1, 1]
    assert used[:, 1].tolist() == [1, 1, 1]  # every member collapsed: kept, and the hop is said to be collapsed
    assert used[:, 2].tolist() == [1, 1, 0]


def test_a_hop_collapses_below_half_of_what_its_modules_can_rank():
    # At a hop whose modules rank the targets at 0.6 by the table alone, members at 0.35-0.4 are at the hop's
    # limit, not collapsed; below 0.3 all round it has collapsed. Without ceilings the floor is the plain 0.5.
    rho = np.array([[0.4, 0.2, 0.1], [0.35, 0.25, 0.6], [0.38, np.nan, 0.55]])
    ceilings = np.array([0.6, 0.6, 1.0])
    assert collapse_floor(3, ceilings).tolist() == [0.3, 0.3, 0.5]
    assert collapsed(rho, ceilings) == [1]
    assert collapsed(rho) == [0, 1]
    # Leaving members out is a separate question: the flat 0.5 against the other members.
    assert collapsed_hops(rho).tolist() == [[1, 1, 0], [1, 1, 1], [1, 1, 1]]


def test_hop_ceilings_are_how_well_the_tables_module_means_rank_the_targets():
    rng = np.random.default_rng(0)
    ops = rng.choice(["a", "b", "c"], size=(200, 2))
    # Hop 0 holds the ops, which decide the target; hop 1 holds modules every architecture shares.
    signatures = [[list(o), ["shared"]] for o in ops]
    y = (ops == "a").sum(1) - (ops == "c").sum(1) + rng.normal(0, 0.1, 200)
    ceilings = hop_ceilings(signatures, y)
    assert ceilings[0] > 0.95 and ceilings[1] == 0.0  # a constant readout ranks nothing
    # Noise the modules do not explain lowers the ceiling; a module per architecture reaches 1.
    noisy = y + rng.normal(0, 2.0, 200)
    assert 0.2 < hop_ceilings(signatures, noisy)[0] < 0.8
    assert hop_ceilings([[[str(i)]] for i in range(200)], noisy)[0] == 1.0


def test_a_head_that_predicts_one_value_for_most_rows_is_tied():
    assert tied_head(np.r_[np.full(60, 0.78168774), np.linspace(0, 1, 40)])
    assert not tied_head(np.linspace(0.7, 0.8, 100))


def test_collapse_and_left_out_members_are_said():
    metrics = {"members": {"count": 3, "collapsed_hops": [1], "hop_used": [[1, 1, 1], [1, 1, 0], [1, 1, 1]],
                           "head_used": [1, 0, 1]}}
    note = members_note(metrics)
    assert "COLLAPSED at hop(s) [1]" in note and "member 1 at hop(s) [2]" in note and "member 1's predictions" in note
    assert "Spearman < 0.5" in note  # a run recorded before floors
    floored = members_note({"members": {**metrics["members"], "collapse_floor": [0.5, 0.27, 0.5]}})
    assert "Spearman below 0.27, half of what the table's own module means reach there" in floored
    assert members_note({}) == ""


def test_a_shared_runs_collapse_floor_must_be_numbers(tmp_path):
    from core.errors import InputError
    from core.runs.loading import load_run_metrics

    (tmp_path / "metrics.json").write_text(json.dumps({"members": {"count": 2, "collapse_floor": [0.5, "0.3"]}}))
    with pytest.raises(InputError, match=r"members.collapse_floor must be a list of at most \d+ numbers$"):
        load_run_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"members": {"count": 2, "collapse_floor": [0.5, 0.3]}}))
    assert load_run_metrics(tmp_path)["members"]["collapse_floor"] == [0.5, 0.3]


def test_a_run_records_each_hops_floor_from_its_own_table(tmp_path):
    space = get_space("nasbench-graph")
    table = validate_table(sample_benchmark("nasbench-graph", "pubmed", 60, 0), space, source="t")
    out = train_from_table(table, "valid_perf", tmp_path / "r", dataset="pubmed",
                           model_config=PredictorConfig(members=2, **SMALL), train_config=TrainConfig(**QUICK))
    layers = out.run.config.model.layers
    ceilings = hop_ceilings([g.signatures(layers) for g in table.graphs], table.frame["valid_perf"].to_numpy())
    floor = out.metrics["members"]["collapse_floor"]
    assert np.allclose(floor, 0.5 * ceilings, atol=1e-4) and min(floor) < 0.5
    assert out.metrics["members"]["collapsed_hops"] == collapsed(
        np.array(out.metrics["members"]["train_hop_spearman"]), ceilings)


def test_an_old_single_predictor_run_still_loads(tmp_path):
    space = get_space("nasbench-graph")
    table = validate_table(sample_benchmark("nasbench-graph", "citeseer", 40, 0), space, source="t")
    out = train_from_table(table, "valid_perf", tmp_path / "old", dataset="citeseer",
                           model_config=PredictorConfig(members=1, **SMALL), train_config=TrainConfig(**QUICK))
    before = out.run.predict(table.graphs).values
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["model"]["members"]  # as every run written before ensembles
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    run = Run.load(tmp_path / "old")
    assert isinstance(run.model, AutoBuildPredictor) and run.config.model.members == 1
    assert np.array_equal(run.predict(table.graphs).values, before)


def test_an_ensemble_run_round_trips_through_its_directory(tmp_path):
    space = get_space("nasbench-graph")
    table = validate_table(sample_benchmark("nasbench-graph", "citeseer", 40, 0), space, source="t")
    out = train_from_table(table, "valid_perf", tmp_path / "ens", dataset="citeseer",
                           model_config=PredictorConfig(members=3, **SMALL), train_config=TrainConfig(**QUICK))
    run = Run.load(tmp_path / "ens")
    assert isinstance(run.model, EnsemblePredictor) and len(run.model.members) == 3
    assert np.allclose(run.predict(table.graphs).values, out.run.predict(table.graphs).values)
    assert out.metrics["members"]["count"] == 3 and len(out.metrics["members"]["train_hop_spearman"]) == 3
