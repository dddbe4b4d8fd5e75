"""Comparing saved runs: their held-out quality side by side.

``runs_table`` checks each run's files with :func:`core.runs.loading.check_run` (no model is loaded),
so a table of many runs is cheap and a damaged run is one line naming its file. The modules two runs rank
most differently are :mod:`core.scoring.disagreement`'s.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from core.errors import InputError
from core.runs.loading import CONFIG_FILE, MODEL_FILE, NO_SPLIT, check_run


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
        if not (path / CONFIG_FILE).is_file() and not (path / MODEL_FILE).is_file():
            raise InputError(f"{path} is not a run directory (no {CONFIG_FILE} / {MODEL_FILE})")
        config, metrics = check_run(path)
        held = metrics.get("heldout") if isinstance(metrics.get("heldout"), dict) else {}
        row = {
            "run": path.name,
            "space": config.space,
            "dataset": config.dataset or "",
            "target": config.target,
            "rows": int(config.rows),
            "gnn": config.model.gnn if config.model is not None else "?",
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
