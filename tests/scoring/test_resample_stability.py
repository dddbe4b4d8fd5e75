"""core.scoring.resample_stability: refits on halves of the table, counted per module (stability selection)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.predictor.config import PredictorConfig, TrainConfig
from core.scoring.modules import score_modules
from core.scoring.resample_stability import ResampleConfig, resample_top_counts
from core.spaces import get_space
from core.tables.validated import validate_table
from core.workflow import train_from_table
from tests.planted import planted_target

pytestmark = pytest.mark.slow  # trains predictors


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A 2-member run on the whole planted space (good layers raise the target, bad ones lower it), its
    table's graphs and targets, and its ranking rows."""
    space = get_space("test-planted")
    rng = np.random.default_rng(1)
    specs = list(space.enumerate())
    table = validate_table(pd.DataFrame({"arch": specs, "y": [planted_target(s, rng) for s in specs]}), space,
                           source="planted")
    run = train_from_table(table, "y", tmp_path_factory.mktemp("runs") / "planted",
                           model_config=PredictorConfig(width=8, layers=2, members=2),
                           train_config=TrainConfig(epochs=40, min_steps=200, batch_size=32, seed=0)).run
    y = table.frame["y"].to_numpy()
    rankings = score_modules(run, table.graphs, y).rankings
    return run, table.graphs, y, rankings


def test_every_refit_places_its_hops_top_and_a_planted_op_is_placed_by_all(planted):
    run, graphs, y, rankings = planted
    rows = pd.MultiIndex.from_frame(rankings[["hop", "signature"]])
    seen = []
    config = ResampleConfig(resamples=3, top=4, seed=5)
    counts = resample_top_counts(run, graphs, y, rows, config=config, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert counts.index.equals(rows) and counts.between(0, 3).all()
    # Each refit puts exactly min(top, modules of the hop) modules in its top places.
    per_hop = counts.groupby(level=0).sum()
    sizes = rankings.groupby("hop").size()
    assert (per_hop == 3 * np.minimum(4, sizes)).all()
    # Hop 0 holds the four positions of the good op: every refit on half the rows still puts them first.
    hop0 = rankings[rankings["hop"] == 0].assign(count=counts.loc[0].to_numpy())
    assert (hop0.loc[hop0["description"] == "good", "count"] == 3).all()
    assert (hop0.loc[hop0["description"] == "bad", "count"] == 0).all()
    # Seeded: the same refits give the same counts.
    assert resample_top_counts(run, graphs, y, rows, config=config).equals(counts)


@pytest.mark.parametrize("kwargs", [dict(resamples=1), dict(resamples=101), dict(fraction=1.0), dict(fraction=0),
                                    dict(top=0), dict(seed=-1)])
def test_resample_config_validated(kwargs):
    with pytest.raises(ValueError):
        ResampleConfig(**kwargs)


def test_targets_must_be_finite_and_one_per_architecture(planted):
    run, graphs, y, rankings = planted
    rows = pd.MultiIndex.from_frame(rankings[["hop", "signature"]])
    with pytest.raises(ValueError, match="finite"):
        resample_top_counts(run, graphs, np.where(np.arange(len(y)) == 0, np.nan, y), rows)
    with pytest.raises(ValueError, match="finite"):
        resample_top_counts(run, graphs, y[:-1], rows)
