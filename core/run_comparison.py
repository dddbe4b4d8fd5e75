"""Comparing saved runs: their held-out quality side by side, and the modules two runs rank most
differently (docs/design.md, section 2.7 for the module scores).

``runs_table`` reads only each run's ``config.json`` and ``metrics.json`` (no model is loaded), so a
table of many runs is cheap. ``module_disagreement`` scores the same architectures with two runs of
one space and puts each module's place in the two hop-``h`` rankings side by side.

A module's place is its rank percentile within its hop's ranking, 0 for the best module and 1 for the
worst, so two rankings of different lengths compare; ``disagreement = |place_a - place_b|``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from core import metrics as M
from core.errors import InputError
from core.json_input import load_json_object
from core.run_loading import CONFIG_FILE, MAX_RUN_JSON_BYTES, METRICS_FILE


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
    ``spearman``, ``kendall_tau``, ``precision_at_k`` (held-out) and ``hop<h>_spearman`` for every hop
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
            "spearman": _number(held.get("spearman")),
            "kendall_tau": _number(held.get("kendall_tau")),
            "precision_at_k": _number(held.get("precision_at_k")),
        }
        hops = held.get("hop_norm_spearman") if isinstance(held.get("hop_norm_spearman"), list) else []
        for h, value in enumerate(hops):
            row[f"hop{h}_spearman"] = _number(value)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class ModuleDisagreement:
    """Two runs' hop-``hop`` rankings of the same modules.

    table: one row per module both rankings hold: ``signature``, ``description``, ``place_a``,
        ``place_b`` (rank percentiles, 0 = best), ``score_a``, ``score_b`` (mean standardised scores),
        ``disagreement`` (``|place_a - place_b|``), most disagreed-on first.
    agreement: Spearman of the two runs' mean scores over the shared modules (NaN with < 2).
    only_a, only_b: modules only one ranking holds (none when both scored the same architectures).
    """

    hop: int
    table: pd.DataFrame
    agreement: float
    only_a: int
    only_b: int


def _places(ranking: pd.DataFrame) -> pd.Series:
    """Rank percentile of each signature, 0 for the best mean score and 1 for the worst."""
    n = len(ranking)
    order = ranking["mean_score"].rank(ascending=False, method="average").to_numpy()
    places = (order - 1) / (n - 1) if n > 1 else np.zeros(n)
    return pd.Series(places, index=ranking["signature"].to_numpy())


def disagreement_table(ranking_a: pd.DataFrame, ranking_b: pd.DataFrame, hop: int) -> ModuleDisagreement:
    """Compare two ranking tables of one hop (rows as :meth:`core.scoring.ModuleScores.ranking` gives)."""
    a = ranking_a.set_index("signature")
    b = ranking_b.set_index("signature")
    shared = a.index.intersection(b.index, sort=False)
    place_a, place_b = _places(ranking_a), _places(ranking_b)
    table = pd.DataFrame({
        "signature": shared,
        "description": a.loc[shared, "description"].to_numpy(),
        "place_a": place_a.loc[shared].to_numpy(),
        "place_b": place_b.loc[shared].to_numpy(),
        "score_a": a.loc[shared, "mean_score"].to_numpy(),
        "score_b": b.loc[shared, "mean_score"].to_numpy(),
    })
    table["disagreement"] = (table["place_a"] - table["place_b"]).abs()
    table = table.sort_values("disagreement", ascending=False, kind="stable").reset_index(drop=True)
    agreement = M.spearman(table["score_a"], table["score_b"]) if len(table) >= 2 else math.nan
    return ModuleDisagreement(hop, table, agreement, int(len(a) - len(shared)), int(len(b) - len(shared)))


def module_disagreement(run_a, run_b, hop: int) -> ModuleDisagreement:
    """Score the union of both runs' training architectures with each run and compare their hop-``hop``
    rankings. Both runs must belong to one search space and have at least ``hop`` hops."""
    from core.scoring import score_modules

    if run_a.config.space != run_b.config.space:
        raise InputError(f"runs {run_a.name} ({run_a.config.space}) and {run_b.name} ({run_b.config.space}) "
                         "are from different search spaces; their modules cannot be compared")
    if not 0 <= hop <= min(run_a.hops, run_b.hops):
        raise InputError(f"hop {hop} is out of range: the runs have {run_a.hops} and {run_b.hops} hops")
    archs = pd.unique(pd.concat([run_a.table()["arch"], run_b.table()["arch"]], ignore_index=True))
    graphs = [run_a.space.to_graph(arch) for arch in archs]
    ranking_a = score_modules(run_a, graphs).ranking(hop)
    ranking_b = score_modules(run_b, graphs).ranking(hop)
    return disagreement_table(ranking_a, ranking_b, hop)
