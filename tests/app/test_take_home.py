"""Download a run or a campaign as a zip and delete one, with a confirmation, from the Train, Compare runs
and Loop pages."""
from __future__ import annotations

import pytest

import shutil

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.apptest import assert_clean
from tests.app.test_pages import open_app, trained_runs_dir  # noqa: F401  (trained_runs_dir: a fixture)

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


def downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_train_and_compare_pages_download_and_delete_a_run(trained_runs_dir, tmp_path, monkeypatch):  # noqa: F811
    runs = tmp_path / "runs"
    shutil.copytree(trained_runs_dir, runs)
    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(runs))
    at = open_app("views/compare.py")
    assert "Download run (zip)" in downloads(at)
    at = open_app("views/train.py")
    assert "Download run (zip)" in downloads(at)
    assert (runs / "tiny").is_dir()  # nothing goes before the confirmation button inside "Delete run"
    at.button(key="train_run_delete").click().run()
    assert_clean(at)
    assert not (runs / "tiny").exists()
    assert any("Deleted run" in s.value for s in at.success)


def test_loop_page_downloads_and_deletes_a_campaign(tmp_path, monkeypatch):
    from core.campaign.campaign import Campaign
    from core.spaces import get_space
    from core.tables.validated import validate_table

    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("AUTOBUILD_CAMPAIGNS_DIR", str(tmp_path / "campaigns"))
    space = get_space("nasbench201")
    frame = space.metrics_table().set_index("arch").loc[space.sample_distinct(12, np.random.default_rng(0)),
                                                          ["baseline_accuracy"]].reset_index()
    table = validate_table(frame, space, source="init", metric_columns=["baseline_accuracy"])
    path = Campaign.create(tmp_path / "campaigns" / "c1", table, "baseline_accuracy", dataset="cifar10", epochs=2).path
    at = open_app("views/loop.py")
    assert "Download campaign (zip)" in downloads(at)
    at.button(key="loop_campaign_delete").click().run()
    assert_clean(at)
    assert not path.exists()
