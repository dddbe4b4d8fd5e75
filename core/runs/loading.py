"""Reading a run directory without trusting it (core/runs/run.py): the file names, size- and depth-bounded
config.json validated against the typed configs before anything is built from it, metrics.json checked
against its schema (numbers where numbers belong, finite where they are shown), table.csv read through
the bounded table reader, and model.pt loaded with ``weights_only=True``. Every file is read as a
regular file under a size cap (core/files/bounded_read.py); a tampered, truncated or mismatched file
is a one-line :class:`InputError` naming it. :func:`check_run` says, without loading the model, why a
run is damaged, so the run list can show it as such instead of breaking."""
from __future__ import annotations

import dataclasses
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from core.errors import ConfigError, InputError
from core.features import FeatureSchema
from core.files.bounded_json import load_json_file
from core.files.bounded_read import check_regular
from core.files.table_io import ARCH, read_table
from core.predictor.config import MAX_MEMBERS
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
#: Largest table.csv read (every architecture of the biggest shipped benchmark is about 3 MB).
MAX_RUN_TABLE_BYTES = 64 * 1024**2
#: Most epochs of history and hops a metrics.json may list (training is bounded far below both).
MAX_HISTORY = 100_000
MAX_HOPS = 64


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
    check_regular(path, max_bytes=MAX_MODEL_BYTES, what="predictor")  # never a device, pipe or huge file
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


# ----------------------------------------------------------------------------- metrics.json

#: metrics.json's quality numbers: a number (NaN where undefined, e.g. Spearman of constant values) or null.
_QUALITY_NUMBERS = ("spearman", "kendall_tau", "mae", "precision_at_k")
_QUALITY_COUNTS = ("rows", "k")
#: Largest integer taken for a count (beyond it a float loses it and formatting may overflow).
_MAX_INT = 2**53


def _is_number(value: Any, *, nan: bool = True) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= _MAX_INT
    return isinstance(value, float) and (math.isfinite(value) or nan and math.isnan(value))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_INT


def _metrics_problem(raw: Any) -> str | None:
    """What is wrong with a metrics.json object (None: it matches the schema the pages rely on)."""
    if not isinstance(raw, dict):
        return f"expected a JSON object of metrics, got a JSON {type(raw).__name__}"
    for part in ("heldout", "train"):
        quality = raw.get(part)
        if quality is None:
            continue
        if not isinstance(quality, dict):
            return f"{part!r} is a JSON {type(quality).__name__}, not an object"
        for key in _QUALITY_NUMBERS:
            if key in quality and quality[key] is not None and not _is_number(quality[key]):
                return f"{part}.{key} is {type(quality[key]).__name__} {str(quality[key])[:40]!r}, not a number"
        for key in _QUALITY_COUNTS:
            if key in quality and not _is_count(quality[key]):
                return f"{part}.{key} must be a non-negative integer"
        hops = quality.get("hop_norm_spearman", [])
        if not isinstance(hops, list) or len(hops) > MAX_HOPS or not all(v is None or _is_number(v) for v in hops):
            return f"{part}.hop_norm_spearman must be a list of at most {MAX_HOPS} numbers"
    for key in ("epochs_run", "best_epoch"):
        if key in raw and raw[key] is not None and not _is_count(raw[key]):
            return f"{key!r} must be a non-negative integer"
    if "train_seconds" in raw and not (_is_number(raw["train_seconds"], nan=False) and raw["train_seconds"] >= 0):
        return "'train_seconds' must be a finite number of seconds"
    if "restored_best" in raw and not isinstance(raw["restored_best"], bool):
        return "'restored_best' must be true or false"
    if "heldout_split" in raw and not isinstance(raw["heldout_split"], str):
        return "'heldout_split' must be a string"
    history = raw.get("history", [])
    if not isinstance(history, list) or len(history) > MAX_HISTORY:
        return f"'history' must be a list of at most {MAX_HISTORY:,} epochs"
    for number, epoch in enumerate(history, start=1):
        if not isinstance(epoch, dict) or not all(isinstance(k, str) and (v is None or _is_number(v) or
                                                                          _is_numbers(v, MAX_MEMBERS))
                                                  for k, v in epoch.items()):
            return f"history entry {number} must be an object of numbers"
    return _members_problem(raw.get("members"))


def _is_numbers(value: Any, most: int) -> bool:
    return isinstance(value, list) and len(value) <= most and all(v is None or _is_number(v) for v in value)


def _members_problem(members: Any) -> str | None:
    """What is wrong with metrics.json's ensemble report (None when it is absent or sound)."""
    if members is None:
        return None
    if not isinstance(members, dict) or not _is_count(members.get("count")) or not 1 <= members["count"] <= MAX_MEMBERS:
        return f"'members' must be an object with a count of 1 to {MAX_MEMBERS}"
    k = members["count"]
    for key in ("train_hop_spearman", "hop_used"):
        rows = members.get(key, [])
        if not isinstance(rows, list) or len(rows) > k or not all(_is_numbers(row, MAX_HOPS) for row in rows):
            return f"members.{key} must be one list of at most {MAX_HOPS} numbers per member"
    floor = members.get("collapse_floor", [])
    if not isinstance(floor, list) or len(floor) > MAX_HOPS or not all(_is_number(v) for v in floor):
        return f"members.collapse_floor must be a list of at most {MAX_HOPS} numbers"
    for key, most in (("head_used", k), ("collapsed_hops", MAX_HOPS), ("best_epochs", k)):
        values = members.get(key, [])
        if not isinstance(values, list) or len(values) > most or not all(_is_count(v) for v in values):
            return f"members.{key} must be a list of at most {most} non-negative integers"
    return None


def load_run_metrics(path: str | Path) -> dict[str, Any]:
    """A run directory's metrics.json (``{}`` when the run has none), bounded and checked against the
    schema every page and command formats from: a string where a number belongs is a one-line error
    naming the file, not a crash in a format call."""
    where = Path(path) / METRICS_FILE
    if not where.exists() and not where.is_symlink():
        return {}
    raw = read_json_file(where)
    problem = _metrics_problem(raw)
    if problem:
        raise InputError(f"{where}: {problem}")
    return raw


# ----------------------------------------------------------------------------- table.csv

def read_run_table(path: str | Path, metric_columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """A run directory's table.csv through the bounded table reader (a regular file of at most
    :data:`MAX_RUN_TABLE_BYTES`), with its ``arch`` column and the run's metric columns."""
    where = Path(path) / TABLE_FILE
    frame = read_table(where, max_bytes=MAX_RUN_TABLE_BYTES, unquote=False)  # written raw by save_run
    missing = [c for c in (ARCH, *metric_columns) if c not in frame.columns]
    if missing:
        raise InputError(f"{where}: column {missing[0]!r} is missing; the run's table is damaged")
    return frame


# ----------------------------------------------------------------------------- the whole run

def check_run(path: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """The config and metrics of the run at ``path``, every file checked without loading the model:
    config.json and metrics.json validated, model.pt and table.csv regular files under their caps.
    Raises a one-line :class:`InputError` naming the damaged file."""
    path = Path(path)
    config, _ = load_run_config(path)
    metrics = load_run_metrics(path)
    check_regular(path / MODEL_FILE, max_bytes=MAX_MODEL_BYTES, what="predictor")
    check_regular(path / TABLE_FILE, max_bytes=MAX_RUN_TABLE_BYTES, what="run table")
    return config, metrics
