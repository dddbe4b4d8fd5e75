"""The AutoBuild predictor: FE-MLP, hop-level GNN, magnitude-ranked loss, training.

Names are loaded on first use (PEP 562): ``from core.predictor import TrainConfig`` works, and
importing :mod:`core.predictor.config` (torch-free settings) does not drag torch and PyG in through
this package, so ``python -m core train --help`` answers at once.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "EncodedGraphs": "batching", "GraphBatch": "batching", "FeatureEmbedding": "fe_mlp",
    "magnitude_ranked_loss": "loss", "soft_spearman": "loss",
    "GNN_LAYERS": "model", "AutoBuildPredictor": "model", "PredictorOutput": "model",
    "PredictorConfig": "config", "TrainConfig": "config", "GNN_NAMES": "config",
    "EpochReport": "train", "TrainResult": "train", "predict_encoded": "train", "train_predictor": "train",
    "EnsemblePredictor": "ensemble", "build_predictor": "ensemble",
}

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
