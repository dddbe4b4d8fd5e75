"""A run knows its look-up dataset or knows it has none (core/spaces/lookup_dataset.py): inferred from the
table's values on real NAS-Bench-Graph tables of two datasets, recorded in the run, used by builds and the
CLI, and inferred on load for runs written before it was recorded; never a silent default (cora)."""
import json

import numpy as np
import pytest

from core.building.builder import build_architectures
from core.building.config import BuildConfig
from core.predictor.config import PredictorConfig, TrainConfig
from core.runs.run import Run
from core.spaces import get_space
from core.spaces.lookup_dataset import resolve_lookup_dataset
from core.tables.validated import load_table
from core.workflow import train_from_table
from tests.conftest import SAMPLE
from tests.test_cli import cli_in_process

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

SPACE = get_space("nasbench-graph")
TINY = {"model_config": PredictorConfig(width=8, layers=2),
        "train_config": TrainConfig(epochs=2, eval_every=1, min_steps=0, seed=0)}


def sample(dataset: str):
    return load_table(SAMPLE / f"nasbench-graph_{dataset}_300.csv", "nasbench-graph")


@pytest.mark.parametrize("dataset", ["citeseer", "pubmed"])
def test_the_dataset_is_inferred_from_the_tables_values(dataset):
    table = sample(dataset)
    found = resolve_lookup_dataset(SPACE, table.frame, table.metric_columns)
    assert found.dataset == dataset and "inferred" in found.note and "valid_perf" in found.note


def test_no_dataset_when_the_values_match_none_or_the_columns_share_no_name():
    table = sample("citeseer")
    percent = table.frame.assign(valid_perf=table.frame["valid_perf"] * 100)
    none = resolve_lookup_dataset(SPACE, percent[["arch", "valid_perf"]], ["valid_perf"])
    assert none.dataset is None and "match none of cora, citeseer" in none.note and "no true metrics" in none.note
    renamed = resolve_lookup_dataset(SPACE, table.frame.rename(columns={"perf": "acc"})[["arch", "acc"]], ["acc"])
    assert renamed.dataset is None and "share no name" in renamed.note
    given = resolve_lookup_dataset(SPACE, table.frame, table.metric_columns, "cora")
    assert given.dataset == "cora" and given.note == "cora (given)"


def test_a_citeseer_run_without_dataset_gets_citeseers_true_metrics_not_coras(tmp_path):
    outcome = train_from_table(sample("citeseer"), "valid_perf", tmp_path / "run", **TINY)
    run = outcome.run
    assert run.dataset == "citeseer" and run.config.dataset_note.startswith("citeseer (inferred")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["dataset"] == "citeseer"
    built = build_architectures(run, BuildConfig(top=5, k=2)).built
    citeseer = SPACE.metrics_table("citeseer").set_index("arch")
    cora = SPACE.metrics_table("cora").set_index("arch")
    np.testing.assert_array_equal(built["true_valid_perf"], citeseer.loc[built["arch"], "valid_perf"])
    assert not np.allclose(built["true_valid_perf"], cora.loc[built["arch"], "valid_perf"])

    # A run written before the dataset was recorded (no dataset, no note) is inferred on load the same way.
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["dataset"] = None
    del config["dataset_note"]
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    old = Run.load(tmp_path / "run")
    assert old.dataset == "citeseer" and "inferred" in old.config.dataset_note


def test_a_table_matching_no_dataset_gets_no_true_metrics_and_says_why(tmp_path):
    table = sample("pubmed")
    frame = table.frame.assign(valid_perf=table.frame["valid_perf"] * 100)[["arch", "valid_perf"]]
    frame.to_csv(tmp_path / "percent.csv", index=False)
    result = cli_in_process("train", "--space", "nasbench-graph", "--table", tmp_path / "percent.csv",
                            "--target", "valid_perf", "--out", tmp_path / "run", "--epochs", 2, "--min-steps", 0,
                            "--width", 8, "--layers", 2, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "look-up    no look-up dataset: the table's valid_perf values match none" in result.stdout
    run = Run.load(tmp_path / "run")
    assert run.dataset is None
    built = cli_in_process("build", "--run", tmp_path / "run", "--top", 3, "--k", 2, "--out", tmp_path / "b.csv")
    assert built.returncode == 0, built.stderr
    assert "no true metrics: no look-up dataset" in built.stdout
    assert not any(c.startswith("true_") for c in open(tmp_path / "b.csv").readline().split(","))


def test_the_train_command_says_which_dataset_it_inferred(tmp_path):
    result = cli_in_process("train", "--space", "nasbench-graph", "--table", SAMPLE / "nasbench-graph_citeseer_300.csv",
                            "--target", "valid_perf", "--out", tmp_path / "run", "--epochs", 2, "--min-steps", 0,
                            "--width", 8, "--layers", 2, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "space      nasbench-graph / citeseer" in result.stdout
    assert "look-up    citeseer (inferred: the table's valid_perf, perf, latency, para values match" in result.stdout
