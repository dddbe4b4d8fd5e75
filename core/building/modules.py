"""Building from (position, op) modules: the builder for spaces without units (docs/design.md 2.8).

Such a space (NAS-Bench-Graph, NAS-Bench-201, user graphs) is one unit, the whole cell, so a candidate
is a whole architecture and, as for units, it is scored at its last node (the sink) at hop
``min(depth - 1, L)``: the module that covers the cell. The choices inside the cell are (position, op)
modules, where a node's *position* is its features other than ``op`` (the edge in NAS-Bench-201, the
depth in NAS-Bench-Graph). Over a pool (the whole space when it can be enumerated, else the training
table and its one-step mutations) each (position, op) module is scored by the mean cell score of the
pool architectures that contain it; per position the ``k`` best ops are kept; the reduced space is the
pool's architectures made only of kept modules, ranked by cell score, and the top ``N`` are built. The
regression head is not used to choose: it only reports ``predicted``. A cell is scored by its covering
module rather than by each node's own norm because low-hop extremes are degenerate cells (all-skip in
NAS-Bench-201). ``BuildConfig(cell_score="graph")`` scores a cell by its graph embedding's norm at hop
L instead, what the loss ranks directly (benchmarks/results/build_quality_*.md report both).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from core.building.config import BuildConfig, BuildResult
from core.building.constraints import satisfied
from core.building.lookup import lookup_table
from core.building.pool import pool_for
from core.runs.run import Run
from core.scoring.modules import PRIOR_ARCHITECTURES
from core.spaces.base import SearchSpace

Progress = Callable[[str, float], None]


def build_from_modules(run: Run, space: SearchSpace, config: BuildConfig, report: Progress) -> BuildResult:
    """Keep the ``config.k`` best ops per position over the pool and build the best cells made of them."""
    report("encoding the pool", 0.05)
    pool = pool_for(run, config.pool_mutations)
    specs = pool.specs
    report("scoring cells", 0.4)
    arch_score = pool.cell_scores(run, config.cell_score)
    report("ranking modules", 0.7)
    frame = pd.DataFrame({"position": [k[0] for k in pool.node_keys], "op": [k[1] for k in pool.node_keys],
                          "arch": pool.node_arch}).drop_duplicates()
    frame["score"] = arch_score[frame["arch"].to_numpy()]
    grouped = frame.groupby(["position", "op"], sort=False)
    table = grouped["score"].mean().reset_index()
    table["architectures"] = grouped["arch"].size().to_numpy()
    # Modules in every architecture (input, output) are structure, not choices.
    table = table[table["architectures"] < len(specs)].copy()
    # The rankings' rule (core.scoring.modules.rank_modules): standardised within the position and shrunk by
    # evidence, so an op seen in one pooled architecture cannot be kept over one seen in fifty.
    n = table["architectures"].to_numpy(dtype=np.float64)
    z = table.groupby("position", sort=False)["score"].transform(lambda s: (s - s.mean()) / (s.std(ddof=0) or 1.0))
    table["order"] = z.to_numpy() * n / (n + PRIOR_ARCHITECTURES)
    table = table.sort_values(["position", "order"], ascending=[True, False], kind="stable")
    table["rank"] = table.groupby("position").cumcount() + 1
    kept_table = table[table["rank"] <= config.k]
    kept = set(zip(kept_table["position"], kept_table["op"]))
    fixed = set(table["position"])
    key_ok = np.array([(pos not in fixed) or ((pos, op) in kept) for pos, op in pool.node_keys])
    arch_ok = np.bincount(pool.node_arch, weights=~key_ok, minlength=len(specs)) == 0
    reduced_size = int(arch_ok.sum())
    if config.constraints:
        arch_ok &= satisfied(config.constraints, specs, *lookup_table(run))
    members = np.flatnonzero(arch_ok)
    order = members[np.argsort(-arch_score[members], kind="stable")]
    top = order[:config.top]
    built = pd.DataFrame({"arch": [specs[i] for i in top], "score": arch_score[top]})
    units = pd.DataFrame({
        "unit": [_position_label(p) for p in kept_table["position"]],
        "rank": kept_table["rank"].to_numpy(),
        "label": kept_table["op"].to_numpy(),
        "score": kept_table["score"].to_numpy(),
    })
    pool_note = "the whole space" if len(specs) == (space.size() or -1) else f"{len(specs)} pooled architectures"
    notes = (f"top {config.k} ops per position over {pool_note} (mean cell score, shrunk by the architectures "
             f"holding the op); reduced space = pool members made only of kept "
             f"(position, op) modules; ranked by cell-module score ({config.cell_score} readout)")
    if config.constraints:
        notes += (f"; subject to {', '.join(map(str, config.constraints))}: {members.size:,} of its "
                  f"{reduced_size:,} members satisfy it")
    return BuildResult(built, units.reset_index(drop=True), reduced_size, "modules", notes,
                       [specs[i] for i in order])


def _position_label(position: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in position) or "(any)"
