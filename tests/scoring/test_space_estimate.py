"""The model-assisted estimate of a module's whole-space mean target (core/scoring/space_estimate.py)."""
import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.scoring.space_estimate import MAX_POOL_SIZE, draw_pool, model_assisted
from tests import planted  # noqa: F401  (registers the test-planted space)


def _rows(*signatures, hop=0):
    return pd.MultiIndex.from_tuples([(hop, s) for s in signatures], names=["hop", "signature"])


def _pairs(holders):
    """(row, arch) arrays from {row: [architectures holding it]}."""
    row = np.concatenate([[r] * len(a) for r, a in holders.items()]).astype(np.int64)
    arch = np.concatenate([a for a in holders.values()]).astype(np.int64)
    return row, arch


def test_without_targets_the_estimate_is_the_models_mean_over_every_holder():
    predictions = np.array([[1.0, 2.0, 3.0, 10.0], [3.0, 2.0, 1.0, 12.0]])  # 2 members, 4 architectures
    row, arch = _pairs({0: [0, 1, 3], 1: [2]})
    estimate = model_assisted(np.array([0.5, 0.5]), predictions, row, arch, 2, None, _rows("a", "b"))
    assert np.allclose(estimate.members, [[13 / 3, 3.0], [17 / 3, 1.0]])
    assert np.allclose(estimate.frame["estimate"], [5.0, 2.0])
    assert estimate.frame["pool_architectures"].tolist() == [3, 1]
    assert (estimate.frame["estimate_low"] <= estimate.frame["estimate"]).all()
    assert (estimate.frame["estimate"] <= estimate.frame["estimate_high"]).all()
    # No targets: the only uncertainty is the members' disagreement, sd / sqrt(K).
    assert np.allclose(estimate.frame["estimate_se"], [np.std([13 / 3, 17 / 3], ddof=1) / np.sqrt(2), 1.0])


def test_a_member_left_out_of_predictions_is_left_out_of_the_interval():
    predictions = np.array([[1.0, 1.0], [2.0, 2.0], [50.0, 50.0]])  # the third member's head collapsed
    row, arch = _pairs({0: [0, 1]})
    estimate = model_assisted(np.array([0.5, 0.5, 0.0]), predictions, row, arch, 2, None, _rows("a"))
    assert estimate.frame.loc[(0, "a"), ["estimate", "estimate_low", "estimate_high"]].tolist() == [1.5, 1.0, 2.0]
    assert estimate.members.shape == (2, 1)


def test_an_exact_model_needs_no_correction_and_a_biased_one_is_corrected_where_the_table_has_evidence():
    rng = np.random.default_rng(0)
    modules, per_module = 20, 40
    truth = rng.normal(0, 1, modules)
    module = np.repeat(np.arange(modules), per_module)
    y = truth[module] + rng.normal(0, 0.5, module.size)
    row, arch = module, np.arange(module.size)
    rows = _rows(*[f"m{i}" for i in range(modules)])
    exact = model_assisted(np.ones(1), y[None], row, arch, module.size, y, rows)
    assert np.allclose(exact.frame["estimate"], exact.frame["model_mean"])
    # A model that misses half of each module's effect: its own means rank the modules but shrink them; the
    # table's residuals put back what 40 architectures a module show.
    biased = truth[module] * 0.5
    estimate = model_assisted(np.ones(1), biased[None], row, arch, module.size, y, rows).frame["estimate"]
    model_error = np.abs(biased.reshape(modules, -1).mean(1) - truth).mean()
    assert np.abs(estimate.to_numpy() - truth).mean() < model_error / 2


def test_one_lucky_architecture_does_not_lift_its_module_over_one_seen_fifty_times():
    # The model predicts 0.5 everywhere. A hundred modules differ truly by a little (sd 0.02) and are seen
    # ten times each under noise of sd 0.1; "steady" is truly 0.05 better and seen fifty times; "lucky" is
    # seen once, in an architecture 0.25 above the model (2.5 noise sds: luck that a table of 1,000 rows holds).
    rng = np.random.default_rng(1)
    effects = rng.normal(0, 0.02, 100)
    y = np.concatenate([0.55 + rng.normal(0, 0.1, 50), [0.75], 0.5 + np.repeat(effects, 10) + rng.normal(0, 0.1, 1000)])
    holders = {0: list(range(50)), 1: [50]}
    holders.update({2 + i: list(range(51 + 10 * i, 61 + 10 * i)) for i in range(100)})
    row, arch = _pairs(holders)
    rows = _rows("steady", "lucky", *[f"other{i}" for i in range(100)])
    frame = model_assisted(np.ones(1), np.full((1, y.size), 0.5), row, arch, y.size, y, rows).frame
    # Its own mean target puts "lucky" first ...
    assert y[50] > y[:50].mean()
    # ... the estimate puts "steady" first, and says how much less "lucky"'s rests on.
    assert frame.loc[(0, "steady"), "estimate"] > frame.loc[(0, "lucky"), "estimate"]
    assert frame.loc[(0, "lucky"), "estimate_se"] > 1.5 * frame.loc[(0, "steady"), "estimate_se"]


def test_rows_without_a_target_add_no_residual():
    y = np.array([1.0, np.nan, 3.0])
    row, arch = _pairs({0: [0, 1, 2]})
    frame = model_assisted(np.ones(1), np.zeros((1, 3)), row, arch, 3, y, _rows("a")).frame
    assert np.isfinite(frame["estimate"]).all() and frame.loc[(0, "a"), "estimate"] > 0


def test_in_a_census_the_tables_targets_are_known_terms_and_only_the_other_holders_are_estimated():
    # 6 architectures, the first 3 the table's; the model is 0.1 low everywhere except architecture 4.
    y = np.array([0.9, 0.5, 0.7])
    predictions = np.array([[0.8, 0.4, 0.6, 0.2, 0.9, 0.3], [0.8, 0.4, 0.6, 0.4, 0.7, 0.3]])
    weights = np.array([0.5, 0.5])
    # "all in table": held only by table architectures; "half": 2 of its 4 holders in the table; "none": none.
    row, arch = _pairs({0: [0, 1], 1: [0, 2, 3, 4], 2: [4, 5]})
    rows = _rows("all in table", "half", "none")
    sample = model_assisted(weights, predictions, row, arch, 3, y, rows)
    census = model_assisted(weights, predictions, row, arch, 3, y, rows, census=True)
    # Every holder known: the mean target itself, with no uncertainty left.
    assert census.frame.loc[(0, "all in table"), "estimate"] == pytest.approx(0.7)
    assert census.frame.loc[(0, "all in table"), "estimate_se"] == 0
    # Half known: their targets, plus the others' predictions moved by the module's (shrunk) correction,
    # which is the sample estimate's correction (the members' model means agree here, 0.625 each).
    correction = sample.members - sample.frame["model_mean"].to_numpy()
    expected = (y[0] + y[2] + predictions[:, 3] + predictions[:, 4] + 2 * correction[:, 1]) / 4
    assert census.members[:, 1] == pytest.approx(expected)
    # The members agree on the correction too (equal residuals), so the standard error is the table's term
    # alone, scaled by the share still estimated.
    se = sample.frame["estimate_se"]
    assert census.frame.loc[(0, "half"), "estimate_se"] == pytest.approx(se.loc[(0, "half")] / 2)
    # No holder in the table: the sample estimate unchanged.
    assert census.frame.loc[(0, "none")].equals(sample.frame.loc[(0, "none")])
    # Without targets there is nothing known: a census changes nothing.
    assert model_assisted(weights, predictions, row, arch, 3, None, rows, census=True).frame.equals(
        model_assisted(weights, predictions, row, arch, 3, None, rows).frame)


def test_a_census_needs_each_table_architecture_once_and_the_rest_in_the_pool():
    from core.scoring.space_estimate import covers_space
    from core.spaces import get_space

    class Small:
        space = get_space("test-planted")
        dataset = None

    every = [str(s) for s in Small.space.enumerate()]
    assert covers_space(Small, every[:10], len(every) - 10)
    assert not covers_space(Small, every[:10], len(every) - 11)  # a sampled pool
    assert not covers_space(Small, every[:10] + every[:1], len(every) - 10)  # an architecture twice

    class Proteins:
        space = get_space("nasbench-graph")
        dataset = "proteins"  # evaluates 2,021 of the 26,206

    evaluated = sorted(set(Proteins.space.metrics_table("proteins")["arch"].astype(str)))
    assert covers_space(Proteins, evaluated[:300], 2021 - 300)
    outside = next(s for s in Proteins.space.enumerate() if s not in set(evaluated))
    assert not covers_space(Proteins, evaluated[:299] + [outside], 2021 - 300)


def test_the_pool_is_seeded_excludes_the_table_and_is_empty_where_the_space_cannot_sample():
    from core.spaces import get_space

    class Run:  # draw_pool reads only the run's space and look-up dataset
        space = get_space("nasbench201")
        dataset = "cifar10"  # evaluates the whole space

    table = Run.space.sample_distinct(50, np.random.default_rng(5))
    first = draw_pool(Run, table, size=300, seed=0)
    assert len(first) == 300
    assert [g.signatures(2) for g in first] == [g.signatures(2) for g in draw_pool(Run, table, size=300, seed=0)]
    assert [g.signatures(2) for g in first] != [g.signatures(2) for g in draw_pool(Run, table, size=300, seed=1)]
    with pytest.raises(InputError, match="over the limit"):
        draw_pool(Run, table, size=MAX_POOL_SIZE + 1)

    class Small:
        space = get_space("test-planted")
        dataset = None

    every = list(Small.space.enumerate())
    rest = draw_pool(Small, every[:-7], size=1000)  # the space has only 7 others: all of them, once
    signatures = lambda graphs: sorted(str(g.signatures(3)) for g in graphs)
    assert signatures(rest) == signatures([Small.space.to_graph(s) for s in every[-7:]])

    class Upload:
        space = get_space("graph")
        dataset = None

    assert draw_pool(Upload, [], size=100) == []


def test_a_dataset_that_evaluates_part_of_the_space_pools_only_that_part():
    from core.scoring.space_estimate import dataset_architectures
    from core.spaces import get_space

    class Run:
        space = get_space("nasbench-graph")
        dataset = "proteins"  # evaluates 2,021 of the 26,206 (five of the nine ops)

    evaluated = set(Run.space.metrics_table("proteins")["arch"].astype(str))
    assert len(dataset_architectures(Run)) == len(evaluated) == 2021
    table = sorted(evaluated)[:300]
    pool = draw_pool(Run, table)
    assert len(pool) == 2021 - 300  # the rest of what proteins evaluates, none of the ops it lacks
    ops = {label.split("@")[0] for graph in pool for label in graph.labels}
    assert not ops & {"gat", "gin", "cheb", "graph"}

    class Cora(Run):
        dataset = "cora"

    assert dataset_architectures(Cora) is None  # cora evaluates the whole space


@pytest.mark.slow
def test_a_run_on_uploaded_graphs_ranks_by_the_tables_own_architectures(tmp_path):
    import json

    from core.predictor.config import PredictorConfig, TrainConfig
    from core.scoring.modules import score_modules
    from core.tables.validated import validate_table
    from core.workflow import train_from_table

    # Chains input -> op_1 -> op_2 -> output; "good" ops make a better target. The generic space cannot sample,
    # so the table is the whole pool.
    rng = np.random.default_rng(0)
    rows = []
    for channels in range(60):  # a distinct width per row keeps every architecture distinct
        ops = rng.choice(["good", "plain", "bad"], size=2)
        spec = {"nodes": [{"op": "input"}, *({"op": str(o), "channels": 8 + channels} for o in ops),
                          {"op": "output"}], "edges": [[0, 1], [1, 2], [2, 3]]}
        rows.append({"arch": json.dumps(spec), "y": float((ops == "good").sum() - (ops == "bad").sum())
                     + rng.normal(0, 0.1)})
    table = validate_table(pd.DataFrame(rows), "graph", source="chains.csv")
    run = train_from_table(table, "y", tmp_path / "run", model_config=PredictorConfig(width=16, layers=2, members=2),
                           train_config=TrainConfig(epochs=40, seed=0, val_fraction=0.0)).run
    assert draw_pool(run, table.frame["arch"]) == []
    hop0 = score_modules(run, table.graphs, table.frame["y"].to_numpy(), []).ranking(0)
    assert (hop0.pool_architectures == hop0.architectures).all()
    assert hop0.estimate.is_monotonic_decreasing and np.isfinite(hop0.estimate_se).all()
    assert hop0.description.tolist().index("good") < hop0.description.tolist().index("bad")
