"""The same seed trains the same model whatever torch's thread count (issue: the dashboard and the CLI
gave different held-out figures with 1 and 2 threads).

Each training runs in its own subprocess, because torch's intra-op thread count is per process and
some kernels pick their reduction order from it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the whole module: subprocesses

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"

TRAIN = """
import sys
import torch
torch.set_num_threads(int(sys.argv[1]))
from core.predictor import PredictorConfig, TrainConfig
from core.tables.validated import load_table
from core.workflow import train_from_table
train_from_table(load_table(sys.argv[2], "nasbench-graph"), "valid_perf", sys.argv[3], dataset="cora",
                 model_config=PredictorConfig(width=16, layers=2),
                 train_config=TrainConfig(epochs=4, eval_every=1, min_steps=0, seed=3))
"""


def heldout(threads: int, out: Path) -> dict:
    subprocess.run([sys.executable, "-c", TRAIN, str(threads), str(TABLE), str(out)], cwd=ROOT, check=True,
                   capture_output=True, timeout=600)
    return json.loads((out / "metrics.json").read_text())["heldout"]


def numbers(value, prefix=""):
    """Every number in a nested JSON value, by its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numbers(item, f"{prefix}{i}.")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield prefix.rstrip("."), float(value)


@pytest.mark.slow
def test_one_and_two_threads_give_the_same_heldout_figures(tmp_path):
    one = dict(numbers(heldout(1, tmp_path / "one")))
    two = dict(numbers(heldout(2, tmp_path / "two")))
    assert one.keys() == two.keys() and "spearman" in one
    assert all(two[k] == pytest.approx(v, abs=1e-6, nan_ok=True) for k, v in one.items()), \
        {k: (v, two[k]) for k, v in one.items() if two[k] != pytest.approx(v, abs=1e-6, nan_ok=True)}
