"""The dashboard under several users: two AppTest sessions on one server process (one job registry,
one training queue, one runs folder) stay apart, never lose a run, and share finished runs.

Also: the Data page's benchmark sample is the table ``python -m core sample`` writes for the same
seed (one sampler), and no folder next to app/main.py makes Streamlit list pages by file name.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.apptest import MAIN, ROOT, TIMEOUT, assert_clean, errors, wait_for


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runs"
    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(path))
    return path


def _session(page: str = "views/train.py") -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page).run()
    assert_clean(at)
    return at


def _fill(at: AppTest, epochs: int, name: str = "") -> None:
    at.number_input(key="_w_ab_hp_width").set_value(8)
    at.number_input(key="_w_ab_hp_layers").set_value(2)
    at.number_input(key="_w_ab_hp_epochs").set_value(epochs)
    at.number_input(key="_w_ab_hp_min_steps").set_value(0)
    at.number_input(key="_w_ab_hp_members").set_value(1)  # sessions and the queue are under test, not ensembles
    at.text_input(key="ab_run_name").set_value(name)


def _press_train(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Start training").click().run()
    assert_clean(at)
    return at


def _saved_runs(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if not p.name.startswith(".") and (p / "model.pt").is_file())


def _finished(at: AppTest) -> bool:
    return any("finished after" in s.value for s in at.success)


@pytest.mark.slow
def test_two_sessions_training_at_once_end_with_two_distinct_complete_runs(runs_dir, monkeypatch):
    monkeypatch.setenv("AUTOBUILD_TRAINING_JOBS", "1")  # the second waits in the queue, and says so
    first, second = _session(), _session()
    _fill(first, epochs=40)
    _fill(second, epochs=3)
    _press_train(first)
    _press_train(second)  # same settings, automatic name, usually within the same second
    assert not errors(first) and not errors(second), errors(first) + errors(second)
    queued = [i.value for i in second.info if "is queued" in i.value]
    assert queued and "number 1 of 1 waiting" in queued[0] and "1 predictor at a time" in queued[0]

    wait_for(first, _finished)
    wait_for(second, _finished)
    runs = _saved_runs(runs_dir)
    assert len(runs) == 2 and runs[0].name != runs[1].name
    for run in runs:
        assert {"config.json", "model.pt", "metrics.json", "table.csv"} <= {p.name for p in run.iterdir()}
    # Each session's current run is its own; both lists show both runs.
    assert first.session_state["ab_run"] != second.session_state["ab_run"]
    assert {Path(first.session_state["ab_run"]), Path(second.session_state["ab_run"])} == set(runs)
    for at in (first, second):
        at.run()  # the session that finished first lists the other's run on its next render
        listed = next(df.value for df in at.dataframe if "run" in df.value.columns)
        assert sorted(listed["run"]) == sorted(r.name for r in runs)


@pytest.mark.slow
def test_an_explicit_name_taken_by_a_training_in_progress_is_refused_before_training(runs_dir, held_training):
    first, second = _session(), _session()
    _fill(first, epochs=20, name="shared-name")  # held after its first epoch until released
    _fill(second, epochs=3, name="shared-name")
    _press_train(first)
    _press_train(second)
    assert not errors(first)
    assert any("A run named 'shared-name' already exists or is being trained" in e for e in errors(second))
    assert not any(b.key == "stop_training" for b in second.button), "the second session trains nothing"
    assert any(b.label == "Start training" for b in second.button), "its form stays, to choose another name"
    wait_for(first, lambda a: any(b.key == "stop_training" for b in a.button), timeout=60)
    first.button(key="stop_training").click().run()
    held_training.set()
    wait_for(first, lambda a: any("stopped early" in s.value for s in a.success))
    assert [r.name for r in _saved_runs(runs_dir)] == ["shared-name"]


@pytest.mark.slow
def test_one_sessions_table_and_target_do_not_change_anothers(runs_dir):
    first, second = _session("views/data.py"), _session("views/data.py")
    first.radio(key="_w_ab_target_mode").set_value("Expression").run()
    first.text_input(key="_w_ab_expression").set_value("valid_perf / latency").run()
    assert_clean(first)
    second.run()
    assert first.session_state["ab_target"] == "valid_perf / latency"
    assert second.session_state["ab_target"] != first.session_state["ab_target"]


@pytest.mark.slow
def test_the_data_pages_benchmark_sample_is_the_clis_sample(runs_dir, tmp_path):
    at = _session("views/data.py")
    at.radio(key="_w_ab_source_kind").set_value("Benchmark sample").run()
    at.number_input(key="_w_ab_bench_n").set_value(120)
    at.number_input(key="_w_ab_bench_seed").set_value(7)
    next(b for b in at.button if b.label == "Load sample").click().run()
    assert_clean(at)
    in_app = at.session_state["ab_table"].frame
    out = tmp_path / "sample.csv"
    subprocess.run([sys.executable, "-m", "core", "sample", "--space", "nasbench-graph", "--dataset", "cora",
                    "--n", "120", "--seed", "7", "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    from_cli = pd.read_csv(out)
    assert len(in_app) == 120
    assert list(in_app["arch"]) == list(from_cli["arch"])
    pd.testing.assert_frame_equal(in_app[list(from_cli.columns)].reset_index(drop=True), from_cli,
                                  check_dtype=False)


def test_no_folder_streamlit_would_list_by_file_name():
    # Streamlit lists every .py file of a ``pages/`` folder beside the entry file in the sidebar, by file
    # name, until st.navigation draws the app's own sections (a busy server, a deep link).
    assert not (Path(MAIN).parent / "pages").exists()
    assert (Path(MAIN).parent / "views" / "train.py").is_file()


def _reload(at: AppTest, page: str) -> AppTest:
    """A browser reload: a new session on the same page and URL (its query parameters)."""
    params = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    again = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    again.query_params.update(params)
    again.run()
    again.switch_page(page).run()
    assert_clean(again)
    return again


@pytest.mark.slow
def test_a_reload_keeps_the_table_the_target_and_the_running_training(runs_dir, held_training):
    at = _session("views/data.py")
    at.selectbox(key="_w_ab_bundled").set_value("nasbench201_cifar10_300.csv").run()
    at.radio(key="_w_ab_target_mode").set_value("Expression").run()
    expression = at.session_state["ab_target"] + " * 2"
    at.text_input(key="_w_ab_expression").set_value(expression).run()
    assert_clean(at)
    assert at.session_state["ab_target"] == expression

    again = _reload(at, "views/data.py")
    assert again.session_state["ab_table_label"] == "nasbench201_cifar10_300.csv"
    assert again.session_state["ab_target"] == expression
    assert again.text_input(key="_w_ab_expression").value == expression

    again.switch_page("views/train.py").run()
    _fill(again, epochs=20)  # held after its first epoch until released
    _press_train(again)
    wait_for(again, lambda a: any(b.key == "stop_training" for b in a.button), timeout=60)
    reloaded = _reload(again, "views/train.py")
    assert any(b.key == "stop_training" for b in reloaded.button), "the reloaded page follows the running job"
    reloaded.button(key="stop_training").click().run()
    held_training.set()
    wait_for(reloaded, lambda a: any("stopped early" in s.value for s in a.success))
    assert len(_saved_runs(runs_dir)) == 1


@pytest.mark.slow
def test_a_queued_training_can_be_cancelled_and_leaves_nothing(runs_dir, monkeypatch, held_training):
    monkeypatch.setenv("AUTOBUILD_TRAINING_JOBS", "1")
    first, second = _session(), _session()
    _fill(first, epochs=20, name="long-one")  # held after its first epoch: it keeps the one slot
    _fill(second, epochs=3, name="waiting-one")
    _press_train(first)
    _press_train(second)
    assert any("Run `waiting-one` is queued: number 1 of 1 waiting" in i.value for i in second.info)
    second.button(key="cancel_queued_train").click().run()
    wait_for(second, lambda a: any("cancelled before it started" in i.value for i in a.info))
    assert not (runs_dir / "waiting-one").exists(), "the cancelled run's name is free again"
    wait_for(first, lambda a: any(b.key == "stop_training" for b in a.button), timeout=60)
    first.button(key="stop_training").click().run()
    held_training.set()
    wait_for(first, lambda a: any("stopped early" in s.value for s in a.success))
    assert [r.name for r in _saved_runs(runs_dir)] == ["long-one"]
