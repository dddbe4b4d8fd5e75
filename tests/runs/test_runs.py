import json
import platform
from importlib import metadata

import numpy as np
import pytest

from core.errors import InputError
from core.runs.run import Run
from core.runs.listing import list_runs
from core.workflow import predict_table


def test_run_directory_contents(nb201_run):
    path = nb201_run.run.path
    assert {p.name for p in path.iterdir()} == {"config.json", "model.pt", "metrics.json", "table.csv"}
    config = json.loads((path / "config.json").read_text())
    for key in ("space", "target", "seed", "schema", "model", "train", "versions", "table_hash", "hop_moments"):
        assert key in config, key
    assert config["versions"]["torch"] == metadata.version("torch")  # what ran, not a pinned string
    assert config["versions"]["python"] == platform.python_version()
    assert len(config["hop_moments"]) == config["model"]["layers"] + 1


def test_reload_gives_identical_predictions(nb201_run, nb201_table):
    loaded = Run.load(nb201_run.run.path)
    a = predict_table(nb201_run.run, nb201_table)
    b = predict_table(loaded, nb201_table)
    assert np.array_equal(a.predicted.to_numpy(), b.predicted.to_numpy())
    assert [c for c in b.columns] == ["arch", "predicted"] + [f"norm_hop{h}" for h in range(4)]


def test_heldout_quality_is_recorded_and_real(nb201_run):
    held = nb201_run.metrics["heldout"]
    # Five members each hold out a different 20% (60 rows), so every row is some member's held-out row and
    # its held-out prediction is that member's (out of fold).
    assert held["rows"] == 300 and nb201_run.metrics["heldout_split"] == "validation"
    assert sorted(sum(nb201_run.metrics["members"]["heldout_rows"], [])) == list(range(300))
    assert held["spearman"] > 0.4  # a broken model scores about 0 here
    assert len(held["hop_norm_spearman"]) == 4


def test_list_runs_and_bad_run_dir(nb201_run, tmp_path):
    runs = list_runs(nb201_run.run.path.parent)
    assert [r.name for r in runs] == ["nb201"]
    (tmp_path / ".half.partial-123").mkdir()  # an interrupted write is never listed
    assert list_runs(tmp_path) == []
    with pytest.raises(InputError, match="not a run directory"):
        Run.load(tmp_path)


def test_run_config_is_typed_and_old_or_newer_run_directories_still_load(nb201_run, tmp_path):
    import shutil

    from core.predictor.config import PredictorConfig
    from core.runs.config import RunConfig
    from core.runs.run import Run

    run = nb201_run.run
    assert isinstance(run.config, RunConfig) and isinstance(run.config.model, PredictorConfig)
    assert run.config.space == "nasbench201" and run.config.target_columns == ("baseline_accuracy",)
    assert RunConfig.from_dict(run.config.to_dict()) == run.config
    # A run written before some fields existed, and by a writer that knew a key this version does not.
    old = tmp_path / "old"
    shutil.copytree(run.path, old)
    raw = json.loads((old / "config.json").read_text())
    for newer in ("metric_columns", "train_rows", "val_rows", "table_source"):
        raw.pop(newer)
    raw["train"]["retired_option"] = 3
    raw["from_the_future"] = {"kept": True}
    (old / "config.json").write_text(json.dumps(raw))
    loaded = Run.load(old)
    assert loaded.config.metric_columns == () and loaded.config.train.lam == run.config.train.lam
    assert loaded.config.to_dict()["from_the_future"] == {"kept": True}
    raw.pop("target_std")
    (old / "config.json").write_text(json.dumps(raw))
    with pytest.raises(InputError, match="run config"):
        Run.load(old)
