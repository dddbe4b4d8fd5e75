"""A run: one trained predictor and everything needed to reuse and trust it, as a directory.

    runs/<name>/config.json    every setting: space, dataset, target, schema, model and training
                               config, seed, table source and hash, target moments, hop moments,
                               package versions
    runs/<name>/model.pt       the state dict (loaded with ``weights_only=True``; never unpickled)
    runs/<name>/metrics.json   held-out quality and the training history
    runs/<name>/table.csv      the training table (canonical ``arch`` + metric columns)

A run directory is written completely or not at all: everything goes to a hidden sibling directory
that is renamed into place at the end (like nanoGPT, the checkpoint carries its own config), without a
moment in which the name is free for another caller to claim (:func:`claim_run_dir`). A staging
directory left by a killed save is removed by the next save next to it. ``overwrite`` only ever
replaces a directory that is a run (or is empty): anything else is refused and left untouched.

Loading trusts nothing in the directory: config.json is size- and depth-bounded JSON validated against
the typed configs (with bounds, so a width of 1e5 cannot allocate 40 GB), and model.pt is read with
``weights_only=True``; a tampered, truncated or mismatched file is a one-line :class:`InputError`.
"""
from __future__ import annotations

import ctypes
import dataclasses
import errno
import json
import math
import os
import pickle
import platform
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from core.errors import ConfigError, InputError
from core.graph import ArchGraph, FeatureSchema
from core.json_input import JsonInputError, load_json
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
        config, schema = load_run_config(path)
        metrics = _read_json_file(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else {}
        if not isinstance(metrics, dict):
            raise InputError(f"{path / METRICS_FILE}: expected a JSON object, got {type(metrics).__name__}")
        model = AutoBuildPredictor(schema, config.model)
        _load_weights(model, path / MODEL_FILE, device)
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

    Refuses to replace an existing non-empty directory unless ``overwrite``, and even then replaces
    only a run directory (:func:`check_run_out`).
    """
    out = Path(out)
    check_run_out(out, overwrite)
    full = dataclasses.replace(config, format_version=FORMAT_VERSION, schema=model.schema.to_dict(),
                               model=model.config, versions=package_versions(),
                               created=time.strftime("%Y-%m-%dT%H:%M:%S%z")).to_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    staging = out.parent / f".{out.name}{_PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        (staging / CONFIG_FILE).write_text(json.dumps(full, indent=2, default=_json_default))
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, staging / MODEL_FILE)
        (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=_json_default))
        table.to_csv(staging / TABLE_FILE, index=False)
        _place_run(staging, out, overwrite)
    finally:
        if staging.exists():  # the unfinished run, or the old one it replaced
            shutil.rmtree(staging, ignore_errors=True)
    return out


def _place_run(staging: Path, out: Path, overwrite: bool) -> None:
    """Put the finished ``staging`` directory at ``out`` so that the name is never free in between.

    A name that nobody holds is claimed first (one ``mkdir``, as :func:`claim_run_dir` does), so from
    then on no other caller can claim it; an empty directory (a claim) is replaced by one ``rename``,
    which POSIX performs atomically onto an empty directory. A run that ``overwrite`` replaces is
    swapped with the new one in one step (``renameat2(RENAME_EXCHANGE)``) and the old run ends up in
    ``staging``, which the caller removes; only where the filesystem cannot swap is the old run moved
    aside first (a moment without a run of that name, never one with half a run).
    """
    made = False
    try:
        out.mkdir()
        made = True
    except FileExistsError:
        pass
    try:
        check_run_out(out, overwrite)  # again: it may have changed while training
        try:
            os.rename(staging, out)
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        check_run_out(out, overwrite)  # filled since the check: by a run (overwrite) or refused here
        if _exchange(staging, out):
            return
        old = out.parent / f".{out.name}{_PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}-old"
        out.rename(old)  # the old run stays whole until the new one is in place
        try:
            os.rename(staging, out)
        finally:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if made:
            release_run_dir(out)
        raise


#: ``renameat2`` flag that swaps two paths atomically (Linux 3.15+, most local filesystems).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap directories ``a`` and ``b`` in one atomic step; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


#: Infix of the hidden staging directories: ``.<name>.partial-<pid>-<random>``.
_PARTIAL = ".partial-"
#: A staging directory whose writer cannot be identified counts as stale after this long.
_STALE_AFTER_S = 3600.0


def check_run_out(out: str | Path, overwrite: bool) -> None:
    """Refuse, with one line and before any work, an output path that a run cannot be saved to.

    A new run may go to a path that does not exist (below directories, not files) or to an empty
    directory. ``overwrite`` replaces a directory only when it *is* a run (its config.json names a run
    format and it has a model.pt): a folder of someone's files, or a file, is never deleted.
    """
    out = Path(out)
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"cannot create run directory {out}: {parent} is a file, not a directory")
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise InputError(f"{out} exists and is not a directory; a run is saved as a new directory, "
                         "so choose another path (nothing was changed)")
    if not any(out.iterdir()):
        return
    if not overwrite:
        raise InputError(f"run directory {out} already exists; choose another one, remove it or overwrite it")
    if not is_run_dir(out):
        raise InputError(f"{out} is not a run directory (no run {CONFIG_FILE} and {MODEL_FILE}); overwrite "
                         "only replaces a run, so choose another path (nothing was changed)")


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a run: a model.pt file and a config.json object with a run format version."""
    path = Path(path)
    if not (path / MODEL_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        return False
    try:
        raw = _read_json_file(path / CONFIG_FILE)
    except InputError:
        return False
    return isinstance(raw, dict) and "format_version" in raw and "space" in raw


def remove_stale_partials(out: str | Path) -> list[Path]:
    """Remove staging directories of ``out`` left by killed saves; return what was removed.

    A staging directory is stale when the process named in it no longer runs (or, for one without a
    readable process id, when it is over an hour old), so a save running in parallel is never touched.
    """
    out = Path(out)
    removed = []
    if not out.parent.is_dir():
        return removed
    for candidate in out.parent.glob(f".{glob_escape(out.name)}{_PARTIAL}*"):
        if not candidate.is_dir() or candidate.is_symlink():
            continue
        if _writer_alive(candidate.name.rsplit(_PARTIAL, 1)[-1], candidate):
            continue
        shutil.rmtree(candidate, ignore_errors=True)
        removed.append(candidate)
    return removed


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters bracketed, so it matches only itself."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def _writer_alive(tag: str, path: Path) -> bool:
    pid_text = tag.split("-", 1)[0]
    if pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return False  # this process is not saving it: save_run removes its own staging on the way out
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return time.time() - path.stat().st_mtime < _STALE_AFTER_S
    except OSError:
        return True


#: Largest config.json / metrics.json read (a real one is a few KB plus the row lists of the split).
MAX_RUN_JSON_BYTES = 64 * 1024**2
#: Largest model.pt loaded (a predictor at the width bound is a few MB).
MAX_MODEL_BYTES = 512 * 1024**2


def _read_json_file(path: Path) -> Any:
    """A run's JSON file, size- and depth-bounded; one-line :class:`InputError` when unreadable."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"{path}: not a regular file")
        if size > MAX_RUN_JSON_BYTES:
            raise InputError(f"{path}: {size:,} bytes is over the {MAX_RUN_JSON_BYTES:,} byte limit")
        return load_json(path.read_bytes(), max_chars=MAX_RUN_JSON_BYTES)
    except JsonInputError as err:
        raise InputError(f"{path}: {err}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None


#: JSON types of config.json's fields (checked before the typed config is built from them).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "space": (str,), "target": (str,), "dataset": (str, type(None)), "target_mean": (int, float),
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
    raw = _read_json_file(where)
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


def _load_weights(model: AutoBuildPredictor, path: Path, device: str) -> None:
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
            config = _read_json_file(path / CONFIG_FILE)
            metrics = _read_json_file(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else {}
        except InputError:
            continue
        if not isinstance(config, dict) or not isinstance(metrics, dict):
            continue
        try:
            heldout = metrics.get("heldout", {})
            found.append(RunSummary(path, path.name, str(config.get("space", "?")), config.get("dataset"),
                                    str(config.get("target", "?")), int(config.get("rows", 0)),
                                    str(config.get("created", "")),
                                    heldout.get("spearman") if isinstance(heldout, dict) else None))
        except (TypeError, ValueError, OverflowError):  # a hand-edited config: listed runs must stay readable
            continue
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
