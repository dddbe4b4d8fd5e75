"""Shared fixtures: small real tables and one short training run, built once per session."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.predictor.config import PredictorConfig, TrainConfig
from core.tables.validated import load_table
from core.workflow import train_from_table

# Tiny graphs gain nothing from intra-op threads, and 2 threads on a busy 2-core machine (a browser
# test's server, another job) run many times slower than 1.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="session")
def nb201_table():
    """300 real NAS-Bench-201 cells with their analog-nasbench accuracies."""
    return load_table(SAMPLE / "nasbench201_cifar10_300.csv", "nasbench201")


@pytest.fixture(scope="session")
def nb201_run(tmp_path_factory, nb201_table):
    """A short but real training run on the 300 cells (seeded), saved as a run directory."""
    out = tmp_path_factory.mktemp("runs") / "nb201"
    outcome = train_from_table(nb201_table, "baseline_accuracy", out, dataset="cifar10",
                               model_config=PredictorConfig(width=16, layers=3),
                               train_config=TrainConfig(epochs=40, seed=0, val_fraction=0.2))
    return outcome
