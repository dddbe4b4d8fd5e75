"""Comparing saved runs: their held-out quality side by side.

``runs_table`` reads only each run's ``config.json`` and ``metrics.json`` (no model is loaded), so a
table of many runs is cheap. The modules two runs rank most differently are
:mod:`core.scoring.disagreement`'s.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from core.errors import InputError
from core.files.bounded_json import load_json_object
from core.runs.loading import CONFIG_FILE, MAX_RUN_JSON_BYTES, METRICS_FILE, NO_SPLIT


def _read_json(path: Path) -> dict:
    """A run's JSON file under the same bounds as loading the run (a run that loads can be compared)."""
    if not path.exists():
        raise InputError(f"{path.parent} is not a run directory (no {path.name})")
    return load_json_object(path, max_bytes=MAX_RUN_JSON_BYTES, what="run settings")


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _count(value: object) -> int:
    number = _number(value)
    return int(number) if math.isfinite(number) else 0


def runs_table(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run: ``run``, ``space``, ``dataset``, ``target``, ``rows``, ``gnn``, ``epochs``,
    ``measured_on`` ("held out", or "training fit" for a run trained without a validation split),
    ``spearman``, ``kendall_tau``, ``precision_at_k`` (on those rows) and ``hop<h>_spearman`` for every hop
    (the held-out Spearman of the hop-``h`` embedding norm with the target; NaN where a run has fewer
    hops than another)."""
    rows = []
    for path in map(Path, paths):
        config = _read_json(path / CONFIG_FILE)
        metrics = _read_json(path / METRICS_FILE)
        held = metrics.get("heldout") if isinstance(metrics.get("heldout"), dict) else {}
        model = config.get("model") if isinstance(config.get("model"), dict) else {}
        row = {
            "run": path.name,
            "space": str(config.get("space", "?")),
            "dataset": config.get("dataset") or "",
            "target": str(config.get("target", "?")),
            "rows": _count(config.get("rows")),
            "gnn": str(model.get("gnn", "?")),
            "epochs": _count(metrics.get("epochs_run")),
            # A run without a validation split (a campaign round's) has only its training fit there.
            "measured_on": "training fit" if metrics.get("heldout_split") == NO_SPLIT else "held out",
            "spearman": _number(held.get("spearman")),
            "kendall_tau": _number(held.get("kendall_tau")),
            "precision_at_k": _number(held.get("precision_at_k")),
        }
        hops = held.get("hop_norm_spearman") if isinstance(held.get("hop_norm_spearman"), list) else []
        for h, value in enumerate(hops):
            row[f"hop{h}_spearman"] = _number(value)
        rows.append(row)
    return pd.DataFrame(rows)
