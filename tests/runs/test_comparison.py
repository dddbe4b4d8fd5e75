import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.predictor.config import PredictorConfig
from core.predictor.config import TrainConfig
from core.runs.comparison import runs_table
from core.scoring.disagreement import disagreement_table, module_disagreement
from core.spaces import get_space
from core.tables.validated import validate_table
from core.workflow import train_from_table
from tests.conftest import ROOT
from tests.planted import planted_target

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


@pytest.fixture(scope="module")
def opposite_runs(tmp_path_factory):
    """Two runs on the same planted architectures: one learns y, the other -y."""
    space = get_space("test-planted")
    rng = np.random.default_rng(0)
    specs = list(space.enumerate())
    frame = pd.DataFrame({"arch": specs, "y": [planted_target(s, rng) for s in specs]})
    table = validate_table(frame, space, source="planted")
    root = tmp_path_factory.mktemp("runs")
    runs = []
    for name, target in (("up", "y"), ("down", "-y")):
        outcome = train_from_table(table, target, root / name,
                                   model_config=PredictorConfig(width=16, layers=2, members=1),
                                   train_config=TrainConfig(epochs=60, batch_size=32, val_fraction=0.2, seed=0))
        runs.append(outcome.run)
    return runs


@pytest.mark.slow
def test_runs_table_reads_each_runs_held_out_figures(opposite_runs):
    up, down = opposite_runs
    table = runs_table([up.path, down.path])
    assert table["run"].tolist() == ["up", "down"]
    assert table["target"].tolist() == ["y", "-y"]
    held = json.loads((up.path / "metrics.json").read_text())["heldout"]
    assert table.loc[0, "spearman"] == pytest.approx(held["spearman"])
    hops = [c for c in table.columns if c.startswith("hop")]
    assert hops == [f"hop{h}_spearman" for h in range(up.hops + 1)]
    assert table.loc[0, "hop0_spearman"] == pytest.approx(held["hop_norm_spearman"][0])
    assert table["measured_on"].tolist() == ["held out", "held out"]


def test_a_run_without_a_validation_split_is_listed_as_training_fit(opposite_runs, tmp_path):
    import shutil

    from core.runs.listing import list_runs

    copy = tmp_path / "round"
    shutil.copytree(opposite_runs[0].path, copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["heldout_split"] = "training (no validation split)"  # what a campaign round's run records
    (copy / "metrics.json").write_text(json.dumps(metrics))
    assert runs_table([copy])["measured_on"].tolist() == ["training fit"]
    assert [r.held_out for r in list_runs(tmp_path)] == [False]


def test_opposite_targets_disagree_on_the_modules(opposite_runs):
    up, down = opposite_runs
    result = module_disagreement(up, down, hop=0)
    assert result.only_a == result.only_b == 0  # the same architectures were scored by both
    assert result.agreement < -0.5
    assert result.table["disagreement"].is_monotonic_decreasing
    assert result.table["disagreement"].iloc[0] > 0.5
    same = module_disagreement(up, up, hop=1)
    assert same.table["disagreement"].max() == 0.0 and same.agreement == pytest.approx(1.0)


def test_places_run_from_best_to_worst():
    a = pd.DataFrame({"signature": ["x", "y", "z"], "description": ["x", "y", "z"], "mean_score": [3.0, 2.0, 1.0]})
    b = pd.DataFrame({"signature": ["z", "y", "w"], "description": ["z", "y", "w"], "mean_score": [5.0, 1.0, 0.0]})
    result = disagreement_table(a, b, hop=0)
    rows = result.table.set_index("signature")
    assert rows.loc["z", "place_a"] == 1.0 and rows.loc["z", "place_b"] == 0.0
    assert rows.loc["y", "place_a"] == 0.5 and rows.loc["y", "place_b"] == 0.5
    assert (result.only_a, result.only_b) == (1, 1)


def test_bad_runs_are_one_line_errors(opposite_runs, tmp_path):
    with pytest.raises(InputError, match="not a run directory"):
        runs_table([tmp_path])
    with pytest.raises(InputError, match="out of range"):
        module_disagreement(*opposite_runs, hop=9)


@pytest.mark.slow
def test_cli_compare(nb201_run):
    path = str(nb201_run.run.path)
    done = subprocess.run([sys.executable, "-m", "core", "compare", path, path, "--hop", "1", "--show", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "baseline_accuracy" in done.stdout and "Spearman of the two rankings +1.000" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "core", "compare", path, "--hop", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "exactly two runs" in bad.stderr and "Traceback" not in bad.stderr


def test_a_run_with_a_large_config_is_compared_as_it_is_loaded(opposite_runs, tmp_path):
    """Compared under the run loader's bounds: a big table's config.json (row lists) exceeds 1 MB."""
    import shutil

    copy = tmp_path / "big"
    shutil.copytree(opposite_runs[0].path, copy)
    config = copy / "config.json"
    config.write_text(config.read_text() + " " * 1_200_000)
    assert runs_table([copy])["run"].tolist() == ["big"]


def test_places_follow_the_shown_order_not_the_score():
    # The shown order (rank) is the estimate's; here it reverses the norm score, and the places follow it.
    a = pd.DataFrame({"signature": ["x", "y", "z"], "description": ["x", "y", "z"], "mean_score": [3.0, 2.0, 1.0],
                      "rank": [3, 2, 1]})
    b = pd.DataFrame({"signature": ["x", "y", "z"], "description": ["x", "y", "z"], "mean_score": [3.0, 2.0, 1.0],
                      "rank": [1, 2, 3]})
    result = disagreement_table(a, b, hop=1)
    rows = result.table.set_index("signature")
    assert rows.loc["z", "place_a"] == 0.0 and rows.loc["z", "place_b"] == 1.0
    assert result.agreement == pytest.approx(-1.0)
