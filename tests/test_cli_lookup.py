import pytest
"""``lookup`` fills a proposals table from the shipped benchmark, and ``loop propose --out`` writes the metric
columns ``loop ingest`` expects back (the README's walkthrough does propose -> lookup -> ingest)."""
import numpy as np
import pandas as pd

from core.spaces import get_space
from tests.test_cli import assert_one_line_error, cli_in_process

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

SPACE = get_space("nasbench201")


def test_lookup_fills_every_metric_of_the_benchmark_and_keeps_the_other_columns(tmp_path):
    truth = SPACE.metrics_table("cifar10").set_index("arch")
    specs = list(truth.index[[5, 700, 15000]])
    pd.DataFrame({"arch": specs, "predicted": [0.1, 0.2, 0.3], "baseline_accuracy": np.nan}).to_csv(
        tmp_path / "round.csv", index=False)
    result = cli_in_process("lookup", "--space", "nasbench201", "--table", "round.csv", "--out", "filled.csv",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    filled = pd.read_csv(tmp_path / "filled.csv")
    assert list(filled["arch"]) == specs and list(filled["predicted"]) == [0.1, 0.2, 0.3]
    assert set(truth.columns) <= set(filled.columns)
    np.testing.assert_allclose(filled[list(truth.columns)].to_numpy(), truth.loc[specs].to_numpy())


def test_lookup_names_the_row_of_an_unknown_architecture_and_writes_nothing(tmp_path):
    pd.DataFrame({"arch": [SPACE.metrics_table("cifar10")["arch"].iloc[0], "|nor_conv_3x3~0|+|bad|"]}).to_csv(
        tmp_path / "round.csv", index=False)
    result = cli_in_process("lookup", "--space", "nasbench201", "--table", "round.csv", "--out", "filled.csv",
                            cwd=tmp_path)
    assert_one_line_error(result, "round.csv", "row 2")
    assert not (tmp_path / "filled.csv").exists()
    result = cli_in_process("lookup", "--space", "graph", "--table", "round.csv", "--out", "f.csv", cwd=tmp_path)
    assert_one_line_error(result, "ships no look-up table")


def test_propose_out_has_the_metric_columns_to_fill_and_lookup_then_ingest_closes_the_round(tmp_path):
    specs = SPACE.sample_distinct(20, np.random.default_rng(0))
    SPACE.metrics_table().set_index("arch").loc[specs, ["baseline_accuracy"]].reset_index().to_csv(
        tmp_path / "init.csv", index=False)
    steps = [("loop", "init", "--space", "nasbench201", "--table", "init.csv", "--target", "baseline_accuracy",
              "--out", "camp", "--epochs", "5", "--members", "1"),
             ("loop", "propose", "--campaign", "camp", "--n", "3", "--out", "round.csv"),
             ("lookup", "--space", "nasbench201", "--table", "round.csv", "--out", "results.csv"),
             ("loop", "ingest", "--campaign", "camp", "--table", "results.csv")]
    for step in steps:
        result = cli_in_process(*step, cwd=tmp_path)
        assert result.returncode == 0, (step, result.stderr)
        if step[1] == "propose":
            proposals = pd.read_csv(tmp_path / "round.csv")
            assert list(proposals.columns) == ["arch", "predicted", "baseline_accuracy"]
            assert proposals["baseline_accuracy"].isna().all() and len(proposals) == 3
            assert "fill in baseline_accuracy in round.csv" in result.stdout
    assert "the round is complete" in result.stdout
