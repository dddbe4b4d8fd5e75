"""Training from a table to a saved run (core.workflow): metrics, guards, predictions, summaries."""
import numpy as np
import pytest

from core.errors import InputError
from core.tables.validated import load_table, validate_table
from core.workflow import (
    format_summary,
    predict_table,
    quality,
    restored_weights_note,
    train_from_table,
)
from tests.conftest import SAMPLE


def test_quality_of_a_perfect_and_a_reversed_prediction():
    true = np.arange(20, dtype=float)
    norms = np.stack([true, -true], axis=1)
    perfect = quality(true * 2 + 1, true, norms)
    assert perfect["rows"] == 20 and perfect["k"] == 2 and perfect["precision_at_k"] == 1.0
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["kendall_tau"] == pytest.approx(1.0)
    assert perfect["mae"] == pytest.approx(np.mean(true + 1))
    assert perfect["hop_norm_spearman"] == pytest.approx([1.0, -1.0])
    assert quality(-true, true, norms)["spearman"] == pytest.approx(-1.0)
    assert quality(true[:5], true[:5], norms[:5])["k"] == 1  # 10 % of rows, at least one


def test_saved_run_reports_held_out_metrics_on_its_validation_split(nb201_run, nb201_table):
    metrics, run = nb201_run.metrics, nb201_run.run
    assert metrics["heldout_split"] == "validation"
    # Each of the 5 members holds out its own 20 % (60 rows): the ensemble learns from all 300, and every
    # row is held out by one member, which predicts it for the held-out figures.
    assert metrics["heldout"]["rows"] == len(run.config.val_rows) == 300
    assert metrics["train"]["rows"] == len(run.config.train_rows) == 300
    assert metrics["epochs_run"] == len(metrics["history"]) and metrics["heldout"]["spearman"] > 0.3
    assert run.config.rows == 300 and run.config.table_source == nb201_table.source


def test_predictions_cover_every_row_with_one_norm_per_hop(nb201_run, nb201_table):
    out = predict_table(nb201_run.run, nb201_table)
    layers = nb201_run.run.config.model.layers
    assert list(out.columns) == ["arch", "predicted"] + [f"norm_hop{h}" for h in range(layers + 1)]
    assert len(out) == 300 and np.isfinite(out["predicted"]).all()
    other = load_table(SAMPLE / "nasbench-graph_cora_300.csv", "nasbench-graph")
    with pytest.raises(InputError, match="is a nasbench-graph table but run .* was trained on nasbench201"):
        predict_table(nb201_run.run, other)


def test_guards_run_before_any_training(nb201_run, nb201_table, tmp_path):
    with pytest.raises(InputError, match="already exists"):
        train_from_table(nb201_table, "baseline_accuracy", nb201_run.run.path)
    few = validate_table(nb201_table.frame.head(3), "nasbench201", source="three.csv")
    with pytest.raises(InputError, match="three.csv: only 3 rows have a finite target"):
        train_from_table(few, "baseline_accuracy", tmp_path / "few")
    assert not (tmp_path / "few").exists()


def test_summary_says_which_weights_the_run_keeps(nb201_run):
    metrics = dict(nb201_run.metrics)
    text = format_summary(nb201_run.run, metrics)
    assert text.splitlines()[0] == f"run        {nb201_run.run.path}"
    assert "space      nasbench201 / cifar10" in text and ("held-out   validation, 300 architectures (out of fold: each predicted by the member of 5 "
                                                       "that held it out, so these are one member's figures") in text
    history = [{"epoch": 1, "val_spearman": 0.2}, {"epoch": 2, "val_spearman": 0.61}, {"epoch": 3}]
    restored = {"restored_best": True, "best_epoch": 2, "epochs_run": 3, "history": history}
    assert restored_weights_note(restored) == ("The best validation epoch's weights were restored "
                                               "(epoch 2 of 3, validation Spearman 0.610).")
    assert restored_weights_note({"restored_best": False}) == ""
    # An ensemble's members each kept their own best epoch, judged on their own held-out rows.
    assert "weights    Each member's best validation epoch's weights were restored (epochs " in \
        format_summary(nb201_run.run, {**metrics, **restored})
    ensemble = {**restored, "members": {"count": 3, "best_epochs": [2, 3, 1], "heldout_rows": [[0], [1], [2]]}}
    assert restored_weights_note(ensemble) == ("Each member's best validation epoch's weights were restored "
                                               "(epochs 2, 3, 1 of 3, each on its own held-out rows).")
    shared_split = {**restored, "members": {"count": 3, "best_epochs": [2, 3, 1]}}  # a run from before
    assert restored_weights_note(shared_split).endswith("(epochs 2, 3, 1 of 3).")
