"""The Loop page (app/views/loop.py) through Streamlit's AppTest, and the Build page's weak-run warning.

Campaigns go to ``campaigns/`` beside a temporary runs folder (``AUTOBUILD_RUNS_DIR``). One round uses
the default method, which trains the predictor (at least 1,000 optimiser steps whatever the epochs:
core.campaign.campaign keeps TrainConfig's ``min_steps``; seconds with one torch thread, see tests/conftest.py);
the others propose with ``random``, which trains nothing, since the page runs every method through the
same calls.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.apptest import CORA, MAIN, TIMEOUT, assert_clean, errors, wait_for


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("AUTOBUILD_CAMPAIGNS_DIR", raising=False)
    return tmp_path / "runs"


def open_loop() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/loop.py").run()
    assert_clean(at)
    return at


#: A column that tells the page's tables apart (AppTest does not expose a dataframe's key).
TABLES = {"loop_rounds": "best so far", "loop_round_table": "state", "loop_history": "source"}


def frame(at: AppTest, key: str) -> pd.DataFrame | None:
    return next((df.value for df in at.dataframe if TABLES[key] in df.value.columns), None)


def start_campaign(at: AppTest, name: str, evaluator: str, method: str = "random") -> AppTest:
    at.selectbox(key="loop_new_method").set_value(method)
    at.radio(key="loop_new_evaluator").set_value(evaluator)
    at.text_input(key="loop_new_name").set_value(name)
    at.number_input(key="loop_new_epochs").set_value(1)
    next(b for b in at.button if b.label == "Start campaign").click().run()
    assert_clean(at)
    assert not errors(at), errors(at)
    return at


def propose(at: AppTest, n: int) -> AppTest:
    at.number_input(key="_w_ab_loop_n").set_value(n)
    at.button(key="loop_propose").click().run()
    assert_clean(at)
    return wait_for(at, lambda a: any("Proposed" in s.value for s in a.success))


# ---------------------------------------------------------------------------------- tests

def test_loop_page_renders_on_a_fresh_session(runs_dir):
    from core.search.searchers import DEFAULT_METHOD

    at = open_loop()
    assert at.title[0].value == "Loop" and not errors(at)
    assert any("No campaign yet" in i.value for i in at.info)
    method = at.selectbox(key="loop_new_method")
    assert method.value == DEFAULT_METHOD  # the benchmark's best is the default
    assert "AutoBuild (paper, one shot) · autobuild" in method.options
    # The bundled table is NAS-Bench-Graph/Cora: its benchmark evaluates by look-up, or the user does.
    assert at.radio(key="loop_new_evaluator").options[0].startswith("Look-up in the nasbench-graph/cora")
    assert at.radio(key="loop_new_evaluator").options[-1] == "I evaluate them myself"


@pytest.mark.slow
def test_lookup_campaign_proposes_evaluates_and_shows_the_round(runs_dir):
    from core.search.searchers import DEFAULT_METHOD

    at = start_campaign(open_loop(), "cora-lookup", "lookup", method=DEFAULT_METHOD)
    path = runs_dir.parent / "campaigns" / "cora-lookup"
    assert (path / "campaign.json").is_file()
    assert any("started from 300 architectures" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 1  # the best-so-far curve
    assert len(frame(at, "loop_history")) == 300
    propose(at, 3)
    round_table = frame(at, "loop_round_table")
    assert len(round_table) == 3 and set(round_table["state"]) == {"pending"}
    assert round_table["predicted"].notna().all()  # the round's predictor predicted each proposal
    at.button(key="loop_evaluate").click().run()
    assert_clean(at)
    wait_for(at, lambda a: any("Evaluated 3" in s.value for s in a.success))
    rounds = frame(at, "loop_rounds")
    assert list(rounds["round"]) == [0, 1] and rounds.iloc[1]["evaluated"] == 3
    assert next(m for m in at.metric if m.label == "Rounds completed").value == "1"
    assert set(frame(at, "loop_round_table")["state"]) == {"evaluated"}
    history = frame(at, "loop_history")
    assert len(history) == 303 and list(history["round"].value_counts().sort_index()) == [300, 3]
    assert any(b.key == "loop_download_history" for b in at.get("download_button"))
    # The status on disk agrees (the page only called core).
    from core.campaign.campaign import Campaign
    from core.predictor.config import DEFAULT_MEMBERS
    from core.runs.run import Run

    campaign = Campaign.open(path)
    assert campaign.status().completed_rounds == 1
    # The page's campaigns train the default ensemble (the campaign tests elsewhere train one member).
    assert campaign.config.members == DEFAULT_MEMBERS
    assert Run.load(campaign.round_dir(1) / "run").metrics["members"]["count"] == DEFAULT_MEMBERS


@pytest.mark.slow
def test_cancel_stops_the_evaluations_and_keeps_the_rest_pending(runs_dir, monkeypatch):
    from core.evaluators.lookup import LookupEvaluator

    look_up = LookupEvaluator.evaluate_one
    release = threading.Event()

    def held(self, spec):  # a look-up takes microseconds: hold each until the test has pressed Cancel
        release.wait(timeout=120)
        return look_up(self, spec)

    monkeypatch.setattr(LookupEvaluator, "evaluate_one", held)
    at = propose(start_campaign(open_loop(), "cora-cancel", "lookup"), 6)
    at.button(key="loop_evaluate").click().run()
    assert_clean(at)
    wait_for(at, lambda a: any(b.key == "loop_cancel" for b in a.button), timeout=30)
    at.button(key="loop_cancel").click().run()
    assert_clean(at)
    release.set()  # the look-up in flight finishes; the job stops before the next one
    wait_for(at, lambda a: any("Cancelled after" in s.value for s in a.success), timeout=60)
    pending = next(m for m in at.metric if m.label == "Pending").value
    assert 0 < int(pending) < 6
    states = frame(at, "loop_round_table")["state"]
    assert (states == "pending").sum() == int(pending) and (states == "evaluated").sum() == 6 - int(pending)
    assert not at.button(key="loop_evaluate").disabled  # the rest can be evaluated later


@pytest.mark.slow
def test_external_campaign_ingest_bad_file_is_one_line_then_good_file_closes_the_round(runs_dir):
    at = propose(start_campaign(open_loop(), "cora-mine", "external"), 2)
    assert any(b.key == "loop_download_proposals" for b in at.get("download_button"))
    assert not any(b.key == "loop_evaluate" for b in at.button)
    at.file_uploader[0].set_value(("results.csv", b"arch,valid_perf\nnot-an-arch,0.5\n", "text/csv")).run()
    assert_clean(at)
    assert len(errors(at)) == 1
    message = errors(at)[0]
    assert "results.csv" in message and "\n" not in message and "Traceback" not in message
    # The measured values of the two proposals (looked up here, as the user's lab would measure them).
    from core.spaces import get_space

    pending = frame(at, "loop_round_table")["arch"]
    truth = get_space("nasbench-graph").metrics_table("cora").set_index("arch").loc[list(pending)].reset_index()
    at.file_uploader[0].set_value(("results.csv", truth.to_csv(index=False).encode(), "text/csv")).run()
    assert_clean(at)
    assert not errors(at), errors(at)
    assert any("Appended 2" in s.value and "the round is complete" in s.value for s in at.success)
    assert list(frame(at, "loop_rounds")["evaluated"]) == [300, 2]


def test_weak_ranking_note_says_why_the_loop_helps_and_quotes_the_round_it_is_about():
    from app.views.loop_data import weak_ranking_note
    from core.campaign.status import RoundSummary

    def closed(r, rho, n):
        return RoundSummary(r, n, n, 0, 1.0, 1.0, rho, n)

    assert weak_ranking_note(None, None) is None and weak_ranking_note(closed(2, 0.7, 10), 0.9, 3) is None
    # The current round is 5 (its predictor just trained); the weak figure is round 4's, over 10 proposals.
    note = weak_ranking_note(closed(4, 0.12, 10), 0.95, 5)
    assert "ranking is weak" in note and "0.12" in note and "evaluations are what make the result reliable" in note
    assert "round 4's predictions for its 10 proposals" in note and "round 5" not in note
    fit = weak_ranking_note(None, 0.2, 3)
    assert "round 3" in fit and "training fit, not held out" in fit


@pytest.mark.slow
def test_build_page_warns_when_the_runs_heldout_spearman_is_low(runs_dir):
    from core.predictor import PredictorConfig, TrainConfig
    from core.tables.validated import load_table
    from core.workflow import train_from_table

    out = runs_dir / "weak"
    train_from_table(load_table(CORA, "nasbench-graph"), "valid_perf", out, dataset="cora",
                     model_config=PredictorConfig(width=8, layers=2),
                     train_config=TrainConfig(epochs=2, eval_every=1, min_steps=0))
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["heldout"]["spearman"] = 0.21  # the page reads it; a 2-epoch run's own value is arbitrary
    (out / "metrics.json").write_text(json.dumps(metrics))
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/build.py").run()
    assert_clean(at)
    warning = next(w.value for w in at.warning if "unreliable" in w.value)
    assert "0.21" in warning and "random" in warning and "Loop" in warning
