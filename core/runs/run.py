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

Reading is :mod:`core.runs.loading`, the run list :mod:`core.runs.listing`, the name claim
:mod:`core.runs.names`. This module is the loaded :class:`Run` and the atomic save that writes one: saving,
placing and cleaning up staging directories share one staging-name scheme and are read together.
"""
from __future__ import annotations

import ctypes
import dataclasses
import errno
import json
import os
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
from core.files.directories import remove_directory
from core.graph import ArchGraph
from core.features import FeatureSchema
from core.predictor.batching import EncodedGraphs
from core.predictor.ensemble import Predictor, build_predictor
from core.predictor.config import PredictorConfig
from core.predictor.config import TrainConfig
from core.predictor.train import predict_encoded
from core.runs.config import FORMAT_VERSION, RunConfig
from core.runs.loading import (
    CONFIG_FILE, METRICS_FILE, MODEL_FILE, TABLE_FILE, _load_weights,
    load_run_config, load_run_metrics, read_json_file, read_run_table)
from core.runs.names import release_run_dir
from core.spaces import SearchSpace, get_space
from core.spaces.lookup_dataset import LookupDataset, resolve_lookup_dataset


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


def _with_lookup_dataset(path: Path, config: RunConfig) -> RunConfig:
    """A run written before the look-up dataset was resolved at training (no ``dataset_note``) and
    without a dataset gets the inference new runs get, from its stored table (in memory only: the
    directory is not rewritten). Without it, its true metrics used to be the space's first dataset's."""
    if config.dataset is not None or config.dataset_note:
        return config
    space = get_space(config.space)
    if not space.has_lookup:
        return dataclasses.replace(config, dataset_note=f"space {space.name!r} ships no look-up table")
    try:
        frame = pd.read_csv(path / TABLE_FILE)
    except (OSError, ValueError) as err:
        return dataclasses.replace(config, dataset_note=f"no look-up dataset: the run's {TABLE_FILE} is unreadable "
                                                        f"({type(err).__name__}), so no true metrics")
    columns = [c for c in config.metric_columns if c in frame.columns]
    if "arch" not in frame.columns or not columns:
        return dataclasses.replace(config, dataset_note=f"no look-up dataset: the run's {TABLE_FILE} has no metric "
                                                        "columns to match, so no true metrics")
    found = _lookup_dataset(config.space, config.table_hash, frame, tuple(columns))
    return dataclasses.replace(config, dataset=found.dataset, dataset_note=found.note)


def _lookup_dataset(space: str, table_hash: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> LookupDataset:
    """The inference, once per (space, table) in a process: the dashboard loads a run on every rerun."""
    key = (space, table_hash or str(pd.util.hash_pandas_object(frame, index=False).sum()), columns)
    if key not in _INFERRED:
        if len(_INFERRED) >= 256:  # bounded: a long-lived dashboard sees many tables
            _INFERRED.clear()
        _INFERRED[key] = resolve_lookup_dataset(get_space(space), frame, columns)
    return _INFERRED[key]


#: (space, table hash, columns) -> the look-up dataset inferred for old runs of that table.
_INFERRED: dict[tuple[str, str, tuple[str, ...]], LookupDataset] = {}


@dataclass
class Prediction:
    """Predictions for G architectures: ``values`` [G] in the target's units, ``hop_norms`` [G, L+1]."""

    values: np.ndarray
    hop_norms: np.ndarray


class Run:
    """A loaded run: the predictor in eval mode plus its config (a :class:`RunConfig`), metrics and
    training table."""

    def __init__(self, path: Path, config: RunConfig, model: Predictor,
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
        metrics = load_run_metrics(path)
        model = build_predictor(schema, config.model)
        _load_weights(model, path / MODEL_FILE, device)
        model.to(device).eval()
        return cls(path, _with_lookup_dataset(path, config), model, metrics)

    def table(self) -> pd.DataFrame:
        """The training table stored with the run (bounded and checked: core/runs/loading.py)."""
        return read_run_table(self.path, self.config.metric_columns)

    def encode(self, graphs: Sequence[ArchGraph]) -> EncodedGraphs:
        return EncodedGraphs(graphs, self.schema)

    def predict(self, graphs: Sequence[ArchGraph] | EncodedGraphs, batch_size: int = 4096) -> Prediction:
        """Predicted target (in its own units) and hop graph-embedding norms of ``graphs``."""
        store = graphs if isinstance(graphs, EncodedGraphs) else self.encode(graphs)
        standardised, norms = predict_encoded(self.model, store, batch_size=batch_size)
        return Prediction(standardised * self.target_std + self.target_mean, norms)


def save_run(out: str | Path, *, config: RunConfig, model: Predictor,
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
        except BaseException:
            old.rename(out)  # the new run could not be placed: the old one goes back, untouched
            raise
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
        raw = read_json_file(path / CONFIG_FILE)
    except InputError:
        return False
    return isinstance(raw, dict) and "format_version" in raw and "space" in raw


def delete_run(path: str | Path) -> None:
    """Delete a run directory, and only one (:func:`is_run_dir`): a typo naming any other directory is
    refused in one line and left untouched. The directory disappears at once (renamed, then removed)."""
    if Path(path).is_symlink() or not is_run_dir(path):
        raise InputError(f"{path} is not a run directory (config.json with a run format and model.pt); "
                         "refusing to delete it")
    remove_directory(path)


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


def sweep_run_folder(root: str | Path, older_than: float) -> list[Path]:
    """Remove what killed trainings left in a runs folder; return what was removed.

    An empty run directory is a name claim (:func:`~core.runs.names.claim_run_dir`); one made before
    ``older_than`` (the server's start) by a process that is gone blocks its name and never becomes a
    run, so it is removed unless a live save is staging it. Staging directories (``.<name>.partial-*``)
    go when their writer no longer runs (:func:`remove_stale_partials`). Called once when the dashboard
    starts; a run, a non-empty folder or anything else is never touched.
    """
    root = Path(root)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    names = {p.name.split(_PARTIAL, 1)[0][1:] for p in root.glob(f".*{_PARTIAL}*")}
    for name in names:
        removed += remove_stale_partials(root / name)
    live = {p.name.split(_PARTIAL, 1)[0][1:] for p in root.glob(f".*{_PARTIAL}*")}
    for path in root.iterdir():
        try:
            if (path.name.startswith(".") or path.is_symlink() or not path.is_dir() or path.name in live
                    or path.stat().st_mtime >= older_than or any(path.iterdir())):
                continue
            path.rmdir()  # only while still empty: a save filling it at this moment makes this fail
        except OSError:
            continue
        removed.append(path)
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


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (TrainConfig, PredictorConfig)):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
