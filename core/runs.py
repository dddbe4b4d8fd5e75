"""A run: one trained predictor and everything needed to reuse and trust it, as a directory.

    runs/<name>/config.json    every setting: space, dataset, target, schema, model and training
                               config, seed, table source and hash, target moments, hop moments,
                               package versions
    runs/<name>/model.pt       the state dict (loaded with ``weights_only=True``; never unpickled)
    runs/<name>/metrics.json   held-out quality and the training history
    runs/<name>/table.csv      the training table (canonical ``arch`` + metric columns)

A run directory is written completely or not at all: everything goes to a hidden sibling directory
that is renamed into place at the end (like nanoGPT, the checkpoint carries its own config).
"""
from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from core.errors import InputError
from core.graph import ArchGraph, FeatureSchema
from core.predictor.batching import EncodedGraphs
from core.predictor.model import AutoBuildPredictor, PredictorConfig
from core.predictor.train import TrainConfig, predict_encoded
from core.run_config import FORMAT_VERSION, RunConfig
from core.spaces import SearchSpace, get_space

CONFIG_FILE = "config.json"
MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
TABLE_FILE = "table.csv"

_VERSIONED_PACKAGES = ("torch", "torch-geometric", "numpy", "pandas", "scipy", "nas-bench-graph",
                       "analog-nasbench", "onnx")


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on (absent ones are skipped)."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class Prediction:
    """Predictions for G architectures: ``values`` [G] in the target's units, ``hop_norms`` [G, L+1]."""

    values: np.ndarray
    hop_norms: np.ndarray


class Run:
    """A loaded run: the predictor in eval mode plus its config (a :class:`RunConfig`), metrics and
    training table."""

    def __init__(self, path: Path, config: RunConfig, model: AutoBuildPredictor,
                 metrics: dict[str, Any]) -> None:
        self.path = path
        self.config = config
        self.model = model
        self.metrics = metrics
        self.schema: FeatureSchema = model.schema
        self.space: SearchSpace = get_space(config.space)
        self.target_mean = float(config.target_mean)
        self.target_std = float(config.target_std)
        self.hop_moments: list[tuple[float, float]] = [tuple(m) for m in config.hop_moments]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def hops(self) -> int:
        return self.model.hops

    @property
    def target(self) -> str:
        return self.config.target

    @property
    def dataset(self) -> str | None:
        return self.config.dataset

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Run":
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / MODEL_FILE).is_file():
            raise InputError(f"{path} is not a run directory (no {CONFIG_FILE} / {MODEL_FILE})")
        try:
            raw = json.loads((path / CONFIG_FILE).read_text())
            metrics = json.loads((path / METRICS_FILE).read_text()) if (path / METRICS_FILE).is_file() else {}
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"{path}: unreadable run files ({err})") from None
        if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
            shown = raw.get("format_version") if isinstance(raw, dict) else None
            raise InputError(f"{path}: run format {shown!r} is not supported (this version reads {FORMAT_VERSION})")
        try:
            config = RunConfig.from_dict(raw)
        except InputError as err:
            raise InputError(f"{path}: {err}") from None
        if config.schema is None or config.model is None:
            raise InputError(f"{path}: the run config has no schema or model settings")
        schema = FeatureSchema.from_dict(config.schema)
        model = AutoBuildPredictor(schema, config.model)
        state = torch.load(path / MODEL_FILE, map_location=device, weights_only=True)
        model.load_state_dict(state)
        model.to(device).eval()
        return cls(path, config, model, metrics)

    def table(self) -> pd.DataFrame:
        """The training table stored with the run."""
        return pd.read_csv(self.path / TABLE_FILE)

    def encode(self, graphs: Sequence[ArchGraph]) -> EncodedGraphs:
        return EncodedGraphs(graphs, self.schema)

    def predict(self, graphs: Sequence[ArchGraph] | EncodedGraphs, batch_size: int = 4096) -> Prediction:
        """Predicted target (in its own units) and hop graph-embedding norms of ``graphs``."""
        store = graphs if isinstance(graphs, EncodedGraphs) else self.encode(graphs)
        standardised, norms = predict_encoded(self.model, store, batch_size=batch_size)
        return Prediction(standardised * self.target_std + self.target_mean, norms)


def save_run(out: str | Path, *, config: RunConfig, model: AutoBuildPredictor,
             metrics: dict[str, Any], table: pd.DataFrame, overwrite: bool = False) -> Path:
    """Write a run directory atomically; ``config`` gets the schema, model config and versions added.

    Refuses to replace an existing non-empty directory unless ``overwrite``.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise InputError(f"run directory {out} already exists; choose another one, remove it or overwrite it")
    full = dataclasses.replace(config, format_version=FORMAT_VERSION, schema=model.schema.to_dict(),
                               model=model.config, versions=package_versions(),
                               created=time.strftime("%Y-%m-%dT%H:%M:%S%z")).to_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        (staging / CONFIG_FILE).write_text(json.dumps(full, indent=2, default=_json_default))
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, staging / MODEL_FILE)
        (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=_json_default))
        table.to_csv(staging / TABLE_FILE, index=False)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (TrainConfig, PredictorConfig)):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass
class RunSummary:
    """One line of the run list: enough to choose a run without loading its model."""

    path: Path
    name: str
    space: str
    dataset: str | None
    target: str
    rows: int
    created: str
    spearman: float | None


def list_runs(root: str | Path = "runs") -> list[RunSummary]:
    """Every complete run directly under ``root``, newest first (partial directories are skipped)."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for path in root.iterdir():
        if path.name.startswith(".") or not (path / CONFIG_FILE).is_file() or not (path / MODEL_FILE).is_file():
            continue
        try:
            config = json.loads((path / CONFIG_FILE).read_text())
            metrics = json.loads((path / METRICS_FILE).read_text()) if (path / METRICS_FILE).is_file() else {}
        except (OSError, json.JSONDecodeError):
            continue
        found.append(RunSummary(path, path.name, config.get("space", "?"), config.get("dataset"),
                                config.get("target", "?"), int(config.get("rows", 0)),
                                config.get("created", ""), metrics.get("heldout", {}).get("spearman")))
    return sorted(found, key=lambda r: r.created, reverse=True)


class RunNameTaken(InputError):
    """A run directory name already used by a saved run or claimed by a training in progress."""


def claim_run_dir(root: str | Path, name: str, *, unique: bool = False) -> Path:
    """Reserve ``root/name`` for a run about to be trained, before any work is spent on it.

    The claim is an empty directory made with one ``mkdir``, which the filesystem grants to exactly one
    caller even across processes; :func:`save_run` then fills it (an empty directory is not a clash).
    ``unique``: on a clash try ``name-2``, ``name-3``, ... until one is free (automatic names); else
    raise :class:`RunNameTaken`. Give the claim back with :func:`release_run_dir` if training fails.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    candidates = [name] + ([f"{name}-{i}" for i in range(2, 10_000)] if unique else [])
    for candidate in candidates:
        path = root / candidate
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunNameTaken(f"a run named {name!r} already exists or is being trained in {root}")


def release_run_dir(path: str | Path) -> None:
    """Give back a claim that never became a run: removes ``path`` only while it is still empty."""
    try:
        Path(path).rmdir()
    except OSError:  # filled by a saved run, or already gone
        pass
