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
from core.building.pool import CellPool, pool_for
from core.errors import InputError
from core.predictor.member_outputs import MemberOutputs, member_outputs
from core.runs.run import Run
from core.scoring.modules import PRIOR_ARCHITECTURES
from core.scoring.space_estimate import (
    in_target_units,
    member_predictions,
    model_assisted,
)
from core.spaces.base import SearchSpace
from core.targets.target import evaluate_target

Progress = Callable[[str, float], None]


def build_from_modules(run: Run, space: SearchSpace, config: BuildConfig, report: Progress) -> BuildResult:
    """Keep the ``config.k`` best ops per position over the pool and build the best cells made of them."""
    report("encoding the pool", 0.05)
    pool = pool_for(run, config.pool_mutations)
    specs = pool.specs
    report("scoring cells", 0.4)
    # One pass of the members over the pool gives the sinks' norms and, for the estimate, the predictions.
    by_estimate, by_sinks = config.module_order == "estimate", config.cell_score == "sink"
    outputs = member_outputs(run.model, pool.store, norms=by_sinks, predictions=by_estimate) \
        if by_sinks or by_estimate else MemberOutputs(None, None)  # the graph readout with the norm order
    arch_score = pool.cell_scores(run, config.cell_score, outputs.norms)
    report("ranking modules", 0.7)
    frame = pd.DataFrame({"position": [k[0] for k in pool.node_keys], "op": [k[1] for k in pool.node_keys],
                          "arch": pool.node_arch}).drop_duplicates()
    frame["score"] = arch_score[frame["arch"].to_numpy()]
    grouped = frame.groupby(["position", "op"], sort=False)
    table = grouped["score"].mean().reset_index()
    table["architectures"] = grouped["arch"].size().to_numpy()
    # Modules in every architecture (input, output) are structure, not choices.
    table = table[table["architectures"] < len(specs)].reset_index(drop=True)
    if by_estimate:
        # The rankings' rule (core.scoring.modules.rank_modules): each op's estimated mean target over the
        # pool's architectures holding it, so the build keeps the ops the Modules page puts first.
        table["order"] = module_estimates(run, pool, frame, table, outputs)
    else:
        # The norm readout, standardised within the position and shrunk by evidence, so an op seen in one
        # pooled architecture cannot be kept over one seen in fifty.
        n = table["architectures"].to_numpy(dtype=np.float64)
        z = table.groupby("position", sort=False)["score"].transform(
            lambda s: (s - s.mean()) / (s.std(ddof=0) or 1.0))
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
        **({"estimate": kept_table["order"].to_numpy()} if config.module_order == "estimate" else {}),
    })
    pool_note = "the whole space" if len(specs) == (space.size() or -1) else f"{len(specs)} pooled architectures"
    rule = ("estimated mean target of the architectures holding the op, the Modules page's order"
            if config.module_order == "estimate" else "mean cell score, shrunk by the architectures holding the op")
    notes = (f"top {config.k} ops per position over {pool_note} ({rule}); reduced space = pool members made "
             f"only of kept "
             f"(position, op) modules; ranked by cell-module score ({config.cell_score} readout)")
    if config.constraints:
        notes += (f"; subject to {', '.join(map(str, config.constraints))}: {members.size:,} of its "
                  f"{reduced_size:,} members satisfy it")
    return BuildResult(built, units.reset_index(drop=True), reduced_size, "modules", notes,
                       [specs[i] for i in order])


def module_estimates(run: Run, pool: CellPool, holders: pd.DataFrame, modules: pd.DataFrame,
                     outputs: MemberOutputs | None = None) -> np.ndarray:
    """[M] the estimated mean target of each (position, op) row of ``modules`` over the pool's architectures
    holding it (``holders``: position, op, arch), by the model-assisted estimator of the rankings
    (:func:`core.scoring.space_estimate.model_assisted`): the predictor's mean over the holders, corrected by
    the mean residual of the run's training architectures among them, shrunk by their count, with one
    shrinkage per position. Without a stored table (nothing to correct with) the predictor's mean alone.
    ``outputs``: the members' predictions over the pool when a pass already made them."""
    weights, predictions = member_predictions(run, pool.store) if outputs is None or outputs.predictions is None \
        else in_target_units(run, outputs)  # [K], [K, A]
    table_index, targets = _training_targets(run, pool.specs)
    order = np.concatenate([table_index, np.setdiff1d(np.arange(len(pool)), table_index)])
    place = np.empty_like(order)
    place[order] = np.arange(len(order))
    # Positions are tuples, which pandas would read as index levels: coded by hand.
    code = {position: i for i, position in enumerate(dict.fromkeys(modules["position"]))}
    rows = pd.MultiIndex.from_arrays([[code[p] for p in modules["position"]], modules["op"].to_numpy()])
    row = rows.get_indexer(pd.MultiIndex.from_arrays([[code.get(p, -1) for p in holders["position"]],
                                                      holders["op"].to_numpy()]))
    keep = row >= 0
    estimate = model_assisted(weights, predictions[:, order], row[keep], place[holders["arch"].to_numpy()[keep]],
                              len(table_index), targets if len(table_index) else None, rows)
    return estimate.frame["estimate"].to_numpy()


def _training_targets(run: Run, specs: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """(pool indices [T], targets [T]) of the run's training architectures found in the pool, each once
    (a repeated architecture's mean target); empty when the run keeps no table."""
    try:
        frame = run.table()
    except InputError:
        return np.zeros(0, dtype=np.int64), None
    values = evaluate_target(frame, run.target).values
    by_spec = pd.Series(values, index=frame["arch"].astype(str).to_numpy()).groupby(level=0).mean()
    index = {spec: i for i, spec in enumerate(specs)}
    found = [(index[spec], value) for spec, value in by_spec.items() if spec in index]
    return np.array([i for i, _ in found], dtype=np.int64), np.array([v for _, v in found], dtype=np.float64)


def _position_label(position: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in position) or "(any)"
