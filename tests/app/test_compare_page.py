"""The Compare runs page through AppTest: the runs table and charts, and the modules two runs disagree on."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runs.comparison import runs_table
from core.runs.run import Run
from core.scoring.disagreement import module_disagreement
from tests.app.apptest import CORA, MAIN, ROOT, TIMEOUT, assert_clean

PAGE = "views/compare.py"
NB201 = ROOT / "sample_data" / "nasbench201_cifar10_300.csv"


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> Path:
    """Two tiny runs of nasbench-graph/cora (different targets) and one of nasbench201."""
    from core.predictor import PredictorConfig, TrainConfig
    from core.tables.validated import load_table
    from core.workflow import train_from_table

    path = tmp_path_factory.mktemp("compare") / "runs"
    fast = TrainConfig(epochs=3, eval_every=1, min_steps=0)
    cora = load_table(CORA, "nasbench-graph")
    train_from_table(cora, "valid_perf", path / "acc", dataset="cora",
                     model_config=PredictorConfig(width=8, layers=2), train_config=fast)
    train_from_table(cora, "-latency", path / "fast", dataset="cora",
                     model_config=PredictorConfig(width=8, layers=2), train_config=fast)
    train_from_table(load_table(NB201, "nasbench201"), "baseline_accuracy", path / "nb201", dataset="cifar10",
                     model_config=PredictorConfig(width=8, layers=2), train_config=fast)
    return path


def open_page(runs: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(runs))
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(PAGE).run()
    assert_clean(at)
    return at


def frame(at: AppTest, column: str):
    return next(df.value for df in at.dataframe if column in df.value.columns)


@pytest.mark.slow
def test_runs_table_and_charts_list_every_saved_run(three_runs, monkeypatch):
    at = open_page(three_runs, monkeypatch)
    table = frame(at, "spearman")
    assert sorted(table["run"]) == ["acc", "fast", "nb201"]
    expected = runs_table([three_runs / name for name in table["run"]])
    assert list(table["spearman"]) == pytest.approx(list(expected["spearman"]), nan_ok=True)
    assert {"target", "rows"} <= set(table.columns) and not any(c.startswith("hop") for c in table.columns)
    hops = frame(at, "hop0_spearman")  # per-hop figures in their own table, so the main one fits 1400 px
    assert {"hop0_spearman", "hop2_spearman"} <= set(hops.columns) and sorted(hops["run"]) == sorted(table["run"])
    assert dict(zip(table["run"], table["target"])) == {"acc": "valid_perf", "fast": "-latency",
                                                         "nb201": "baseline_accuracy"}
    assert len(at.get("plotly_chart")) == 2


@pytest.mark.slow
def test_two_runs_of_one_space_show_the_modules_they_disagree_on(three_runs, monkeypatch):
    at = open_page(three_runs, monkeypatch)
    run_a = at.selectbox(key="_w_ab_cmp_a")
    names = [option.split(" · ")[0] for option in run_a.options]
    assert sorted(names) == ["acc", "fast"]  # nb201 is the only run of its space: nothing to compare it with
    run_a.set_value("acc").run()
    assert [o.split(" · ")[0] for o in at.selectbox(key="_w_ab_cmp_b").options] == ["fast"]  # same space only
    at.selectbox(key="_w_ab_cmp_hop").set_value(2).run()
    assert_clean(at)
    shown = frame(at, "disagreement")
    expected = module_disagreement(Run.load(three_runs / "acc"), Run.load(three_runs / "fast"), 2).table
    assert list(shown["signature"]) == list(expected["signature"][:len(shown)])
    assert shown["disagreement"].is_monotonic_decreasing and len(shown) == min(20, len(expected))
    assert any(m.label == "Shared modules" and m.value == str(len(expected)) for m in at.metric)


def test_without_runs_the_page_points_to_training(tmp_path, monkeypatch):
    at = open_page(tmp_path / "none", monkeypatch)
    assert any("No trained run yet" in i.value for i in at.info)
    assert not at.dataframe
