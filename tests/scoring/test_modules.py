import numpy as np
import pandas as pd
import pytest

from core.predictor.config import PredictorConfig
from core.predictor.config import TrainConfig
from core.scoring.modules import architecture_scores, score_modules
from core.spaces import get_space
from core.tables.validated import validate_table
from core.workflow import train_from_table
from tests.planted import planted_target


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    space = get_space("test-planted")
    rng = np.random.default_rng(0)
    specs = list(space.enumerate())
    frame = pd.DataFrame({"arch": specs, "y": [planted_target(s, rng) for s in specs]})
    table = validate_table(frame, space, source="planted")
    out = tmp_path_factory.mktemp("runs") / "planted"
    outcome = train_from_table(table, "y", out, model_config=PredictorConfig(width=16, layers=2),
                               train_config=TrainConfig(epochs=60, batch_size=32, val_fraction=0.0, seed=0))
    return outcome.run, table


def test_module_in_best_architectures_ranks_above_module_in_worst(planted_run):
    run, table = planted_run
    scores = score_modules(run, table.graphs, table.frame["y"].to_numpy())
    hop0 = scores.ranking(0)
    # Each op appears at 2 stages x 2 layers = 4 positions (4 hop-0 modules): every good one ranks
    # above every bad one.
    good = hop0[hop0.description == "good"].mean_score
    bad = hop0[hop0.description == "bad"].mean_score
    assert len(good) == len(bad) == 4
    assert good.min() > bad.max(), hop0
    # The mean target column agrees: architectures with a good layer are better on average.
    hop0_means = hop0.groupby("description").mean_target.mean()
    assert hop0_means["good"] > hop0_means["plain"] > hop0_means["bad"]


def test_hop_moments_standardise_scores(planted_run):
    run, table = planted_run
    scores = score_modules(run, table.graphs)
    stats = scores.nodes.groupby("hop").score.agg(["mean", "std"])
    assert np.allclose(stats["mean"], 0.0, atol=1e-3)
    assert np.allclose(stats["std"], 1.0, atol=0.01)


def test_ranking_table_columns_and_counts(planted_run):
    run, table = planted_run
    scores = score_modules(run, table.graphs, table.frame["y"].to_numpy())
    assert list(scores.rankings.columns) == ["hop", "signature", "description", "mean_score", "std_score",
                                             "count", "architectures", "mean_target"]
    # Every node is counted once per hop.
    total_nodes = sum(g.num_nodes for g in table.graphs)
    assert (scores.rankings.groupby("hop")["count"].sum() == total_nodes).all()
    hop1 = scores.ranking(1)
    assert "good <- input" in set(hop1.description)
    assert hop1.mean_score.is_monotonic_decreasing
    assert set(scores.feature_importance.feature) == {"op", "stage", "layer"}


def test_architecture_scores_shape(planted_run):
    run, table = planted_run
    s = architecture_scores(run, table.graphs[5])
    assert s.shape == (table.graphs[5].num_nodes, run.hops + 1)
