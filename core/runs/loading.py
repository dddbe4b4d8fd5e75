"""Reading a run directory without trusting it (core/runs/run.py): the file names, size- and depth-bounded
config.json validated against the typed configs before anything is built from it, and model.pt
loaded with ``weights_only=True``; a tampered, truncated or mismatched file is a one-line
:class:`InputError`."""
from __future__ import annotations

import dataclasses
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from core.errors import ConfigError, InputError
from core.features import FeatureSchema
from core.files.bounded_json import load_json_file
from core.predictor.ensemble import Predictor
from core.predictor.config import PredictorConfig
from core.runs.config import FORMAT_VERSION, RunConfig

CONFIG_FILE = "config.json"
MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
TABLE_FILE = "table.csv"

#: metrics.json's ``heldout_split`` for a run trained on every row (a campaign's rounds): its "heldout"
#: figures are then the fit to its own training rows, not held-out quality, and every page says so.
NO_SPLIT = "training (no validation split)"

#: Largest config.json / metrics.json read (a real one is a few KB plus the row lists of the split).
MAX_RUN_JSON_BYTES = 64 * 1024**2
#: Largest model.pt loaded (a predictor at the width bound is a few MB).
MAX_MODEL_BYTES = 512 * 1024**2


def read_json_file(path: Path) -> Any:
    """A run's JSON file, size- and depth-bounded; one-line :class:`InputError` when unreadable."""
    return load_json_file(path, max_bytes=MAX_RUN_JSON_BYTES, what="a run file")


#: JSON types of config.json's fields (checked before the typed config is built from them).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "space": (str,), "target": (str,), "dataset": (str, type(None)), "dataset_note": (str,),
    "target_mean": (int, float),
    "target_std": (int, float), "hop_moments": (list,), "target_columns": (list,), "metric_columns": (list,),
    "train": (dict, type(None)), "model": (dict,), "seed": (int, type(None)), "table_source": (str,),
    "table_hash": (str,), "rows": (int,), "excluded_rows": (list,), "train_rows": (list,), "val_rows": (list,),
    "schema": (dict,), "versions": (dict,), "created": (str,),
}
_STRING_LISTS = ("target_columns", "metric_columns")
_INT_LISTS = ("excluded_rows", "train_rows", "val_rows")


def load_run_config(path: str | Path) -> tuple[RunConfig, FeatureSchema]:
    """A run directory's config.json, validated against :class:`RunConfig`, :class:`PredictorConfig`
    (with its bounds) and :class:`FeatureSchema` before anything is built from it."""
    path = Path(path)
    where = path / CONFIG_FILE
    raw = read_json_file(where)
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a JSON object of settings, got a JSON {type(raw).__name__}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: run format {raw.get('format_version')!r} is not supported "
                         f"(this version reads {FORMAT_VERSION})")
    for key, kinds in _FIELD_TYPES.items():
        if key in raw and not (isinstance(raw[key], kinds) and not isinstance(raw[key], bool) or
                               bool in kinds and isinstance(raw[key], bool)):
            raise ConfigError(f"{where}: {key!r} is a JSON {type(raw[key]).__name__}, which is not valid here")
    for key in _STRING_LISTS:
        if key in raw and not all(isinstance(v, str) for v in raw[key]):
            raise ConfigError(f"{where}: {key!r} must be a list of strings")
    for key in _INT_LISTS:
        if key in raw and not all(isinstance(v, int) and not isinstance(v, bool) for v in raw[key]):
            raise ConfigError(f"{where}: {key!r} must be a list of integers")
    try:
        config = RunConfig.from_dict(raw)
    except InputError as err:
        raise ConfigError(f"{where}: {err}") from None
    if config.schema is None or config.model is None:
        raise ConfigError(f"{where}: the run config has no schema or model settings")
    if not isinstance(raw.get("model"), dict) or not isinstance(raw.get("schema"), dict):
        raise ConfigError(f"{where}: 'model' and 'schema' must be JSON objects")
    unknown = sorted(set(raw["model"]) - {f.name for f in dataclasses.fields(PredictorConfig)})
    if unknown:
        raise ConfigError(f"{where}: unknown model setting {unknown[0]!r}")
    try:
        schema = FeatureSchema.from_dict(config.schema)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(f"{where}: invalid feature schema ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:120] if str(err) else ''})") from None
    moments = config.hop_moments
    if len(moments) != config.model.layers + 1 or not all(
            math.isfinite(m) and math.isfinite(sd) and sd >= 0 for m, sd in moments):
        raise ConfigError(f"{where}: hop_moments must be {config.model.layers + 1} finite (mean, std >= 0) "
                          "pairs, one per hop")
    if not math.isfinite(config.target_mean) or not math.isfinite(config.target_std):
        raise ConfigError(f"{where}: target_mean and target_std must be finite numbers")
    return config, schema


def _load_weights(model: Predictor, path: Path, device: str) -> None:
    """Load model.pt into ``model``: never unpickled (``weights_only``); tampered, truncated or
    mismatched weights are one line naming the file."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None
    if size > MAX_MODEL_BYTES:
        raise InputError(f"{path}: {size:,} bytes is over the {MAX_MODEL_BYTES:,} byte limit for a predictor")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(f"{path}: refused: it holds pickled objects, not only tensors, so it was not loaded "
                         "(weights_only)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, TypeError,
            AttributeError, IndexError) as err:
        raise InputError(f"{path}: not a readable model file (truncated or corrupt: {type(err).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path}: not a state dict of tensors")
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()
        raise InputError(f"{path}: the weights do not fit the config's model "
                         f"({first[1].strip()[:160] if len(first) > 1 else type(err).__name__})") from None
