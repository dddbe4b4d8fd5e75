import numpy as np
import pandas as pd
import pytest

from core.predictor.config import PredictorConfig, TrainConfig
from core.scoring.modules import (
    _agreement,
    architecture_scores,
    hop_reliability,
    member_norms,
    node_scores,
    rank_modules,
    score_modules,
    trust_note,
    trusted_hops,
    trusted_node_scores,
)
from core.scoring.space_estimate import SpaceEstimate
from core.spaces import get_space
from core.tables.validated import validate_table
from core.workflow import train_from_table
from tests.planted import planted_target

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


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


@pytest.mark.slow
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
    # And so does the order shown: every good module is placed above every bad one.
    assert hop0[hop0.description == "good"]["rank"].max() < hop0[hop0.description == "bad"]["rank"].min()


def test_hop_moments_standardise_scores(planted_run):
    run, table = planted_run
    scores = score_modules(run, table.graphs)
    stats = scores.nodes.groupby("hop").score.agg(["mean", "std"])
    assert np.allclose(stats["mean"], 0.0, atol=1e-3)
    # The ensemble's score is the mean of its members' standardised scores: as spread as one member's at
    # most, and each member's own scores are standardised.
    assert (stats["std"] <= 1.0 + 0.01).all() and (stats["std"] > 0.3).all()
    members = member_norms(run.model, run.encode(table.graphs))
    z = (members - run.model.norm_mean.numpy()[:, None, :]) / run.model.norm_std.numpy()[:, None, :]
    assert np.allclose(z.mean(axis=1), 0.0, atol=1e-3) and np.allclose(z.std(axis=1), 1.0, atol=0.01)


def test_ranking_table_columns_and_counts(planted_run):
    run, table = planted_run
    scores = score_modules(run, table.graphs, table.frame["y"].to_numpy())
    # Today's columns keep their place and meaning; the ranking's uncertainty and order follow them.
    assert list(scores.rankings.columns) == ["hop", "signature", "description", "mean_score", "std_score",
                                             "count", "architectures", "mean_target", "member_low", "member_high",
                                             "members", "members_top10", "estimate", "estimate_low",
                                             "estimate_high", "estimate_se", "model_mean", "pool_architectures",
                                             "rank_score", "rank"]
    # Every node is counted once per hop.
    total_nodes = sum(g.num_nodes for g in table.graphs)
    assert (scores.rankings.groupby("hop")["count"].sum() == total_nodes).all()
    hop1 = scores.ranking(1)
    assert "good <- input" in set(hop1.description)
    assert hop1["rank"].tolist() == list(range(1, len(hop1) + 1)) and hop1.rank_score.is_monotonic_decreasing
    assert (hop1.member_low <= hop1.mean_score + 1e-9).all() and (hop1.mean_score <= hop1.member_high + 1e-9).all()
    assert (hop1.estimate_low <= hop1.estimate + 1e-9).all() and (hop1.estimate <= hop1.estimate_high + 1e-9).all()
    assert np.allclose(hop1.rank_score, hop1.estimate)
    # Scored without a pool, the table is the pool: each module's model part averages its own holders.
    assert (hop1.pool_architectures == hop1.architectures).all()
    assert set(scores.feature_importance.feature) == {"op", "stage", "layer"}


def test_architecture_scores_shape(planted_run):
    run, table = planted_run
    s = architecture_scores(run, table.graphs[5])
    assert s.shape == (table.graphs[5].num_nodes, run.hops + 1)


def _nodes(rows):
    """A nodes frame from (arch, hop, signature, score) rows, one node per row."""
    frame = pd.DataFrame(rows, columns=["arch_index", "hop", "signature", "score"])
    frame["node"] = frame.groupby("arch_index").cumcount()
    frame["label"] = frame["signature"]
    frame["norm"] = frame["score"]
    return frame


def _estimate(nodes, members):
    """A SpaceEstimate for ``nodes``' modules from each member's estimate [K, modules] (se 0)."""
    rows = pd.MultiIndex.from_frame(nodes.groupby(["hop", "signature"], sort=False).size().reset_index()[["hop", "signature"]])
    frame = pd.DataFrame({"estimate": members.mean(0), "estimate_low": members.min(0), "estimate_high": members.max(0),
                          "estimate_se": 0.0, "model_mean": members.mean(0), "pool_architectures": 1}, index=rows)
    return SpaceEstimate(frame, members)


def test_members_top10_and_agreement_say_how_stable_the_order_is():
    rows = [(a, 0, f"m{a % 30}", 0.0) for a in range(300)]
    nodes = _nodes(rows)
    same = np.tile(np.arange(30, dtype=float), (4, 1))  # four members, one order
    agree = rank_modules(nodes, {}, None, None, _estimate(nodes, same))
    assert sorted(agree["members_top10"].tolist(), reverse=True)[:10] == [4] * 10
    assert _agreement(agree["members_top10"].to_numpy(), 4, 10) == pytest.approx(1.0)
    assert agree["signature"].iloc[0] == "m29" and agree["rank"].tolist() == list(range(1, 31))
    rng = np.random.default_rng(0)
    shuffled = np.stack([rng.permutation(30) for _ in range(4)]).astype(float)
    differ = rank_modules(nodes, {}, None, None, _estimate(nodes, shuffled))
    assert _agreement(differ["members_top10"].to_numpy(), 4, 10) < 0.8


def test_the_order_is_the_estimate_and_its_standard_error_rides_along():
    rows = [(a, 0, f"m{a % 3}", 0.0) for a in range(30)]
    nodes = _nodes(rows)
    estimate = _estimate(nodes, np.array([[0.9, 1.0, 0.5]]))
    estimate.frame["estimate_se"] = [0.05, 0.3, 0.0]
    table = rank_modules(nodes, {}, None, None, estimate)
    assert table["signature"].tolist() == ["m1", "m0", "m2"]
    assert np.allclose(table["rank_score"], [1.0, 0.9, 0.5]) and np.allclose(table["estimate_se"], [0.3, 0.05, 0.0])


def test_a_collapsed_hop_is_badged_and_never_reliable(planted_run):
    run, table = planted_run
    scores = score_modules(run, table.graphs, table.frame["y"].to_numpy())
    saved = run.metrics
    run.metrics = {**run.metrics, "members": {**run.metrics.get("members", {}), "collapsed_hops": [1]}}
    reliability = hop_reliability(run, scores.rankings, run.hops)
    run.metrics = saved
    assert reliability.loc[1, "badge"] == "collapsed" and not reliability.loc[1, "reliable"]
    assert list(reliability.columns) == ["hop", "heldout_norm_spearman", "member_agreement", "collapsed", "reliable",
                                         "badge"]


def test_builds_read_a_trusted_hop_in_place_of_a_collapsed_one_and_say_so(planted_run):
    from core.building.builder import build_architectures
    from core.building.config import BuildConfig

    run, table = planted_run
    assert trusted_hops(run).tolist() == list(range(run.hops + 1)) and trust_note(run) == ""
    before = build_architectures(run, BuildConfig(top=3, k=2))
    saved = run.metrics
    run.metrics = {**run.metrics, "members": {**run.metrics.get("members", {}), "collapsed_hops": [1]}}
    try:
        assert trusted_hops(run).tolist() == [0, 0, 2]
        after = build_architectures(run, BuildConfig(top=3, k=2))
        assert "ignored weak or collapsed hop(s) 1 (read at hop 0)" in after.notes
        assert "ignored" not in before.notes
        store = run.encode(table.graphs)
        assert np.array_equal(trusted_node_scores(run, store)[:, 1], node_scores(run, store)[:, 0])
    finally:
        run.metrics = saved
