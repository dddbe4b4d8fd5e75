"""End-to-end steps shared by the CLI, the dashboard and notebooks.

``train_from_table``: validated table + target expression -> trained predictor -> run directory.
``predict_table``: run + validated table -> predicted target and hop norms per architecture.

Both take the objects the user already has and return plain results; the callers only render them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from core import metrics as M
from core.errors import InputError
from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig, TrainConfig
from core.predictor.collapse import COLLAPSE_SPEARMAN, hop_ceilings
from core.predictor.train import EpochReport, predict_encoded, train_predictor
from core.runs.config import RunConfig
from core.runs.loading import NO_SPLIT
from core.runs.run import Run, check_run_out, save_run
from core.spaces import get_space
from core.spaces.lookup_dataset import resolve_lookup_dataset
from core.tables.validated import ValidatedTable, table_hash
from core.targets.target import evaluate_target, parse_target

#: The fewest architectures a predictor is trained on; below this a ranking is noise.
MIN_ROWS = 10


@dataclass
class TrainOutcome:
    run: Run
    metrics: dict[str, Any]
    excluded_summary: str


def quality(predicted: np.ndarray, true: np.ndarray, hop_norms: np.ndarray) -> dict[str, Any]:
    """Spearman, Kendall tau, MAE, precision@k (k = 10% of rows, at least 1) and per-hop norm Spearman."""
    k = max(1, len(true) // 10)
    return {
        "rows": int(len(true)),
        "spearman": M.spearman(predicted, true),
        "kendall_tau": M.kendall_tau(predicted, true),
        "mae": M.mae(predicted, true),
        "precision_at_k": M.precision_at_k(predicted, true, k),
        "k": k,
        "hop_norm_spearman": M.hop_norm_spearman(hop_norms, true),
    }


def train_from_table(table: ValidatedTable, target_expression: str, out: str | Path, *,
                     dataset: str | None = None,
                     model_config: PredictorConfig = PredictorConfig(),
                     train_config: TrainConfig = TrainConfig(),
                     overwrite: bool = False,
                     progress: Callable[[EpochReport], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> TrainOutcome:
    """Train AutoBuild's predictor on ``table`` for ``target_expression`` and save the run to ``out``.

    Rows whose target is NaN or infinite are excluded (and reported in ``excluded_summary``). The
    held-out metrics are computed on the validation split in the target's own units: an ensemble's
    members each hold out their own ``val_fraction`` of the rows (:func:`core.predictor.train.member_folds`),
    and each held-out row is predicted by the members that held it out (out of fold: a member's quality,
    which understates the whole ensemble's, since no row is unseen by all members). Without a split
    (``val_fraction=0``) they are the training fit, and ``heldout_split`` says so.

    ``dataset``: the look-up dataset the table comes from. Not given, it is inferred from the table's
    values, or the run has none (core.spaces.lookup_dataset); the run's config records which and how
    (``dataset_note``), so true metrics are never those of a dataset nobody chose.
    """
    out = Path(out)
    check_run_out(out, overwrite)  # before training, so a long run is not wasted on a name clash
    target = parse_target(target_expression, table.metric_columns)
    space = get_space(table.space_name)
    lookup = resolve_lookup_dataset(space, table.frame, table.metric_columns, dataset)
    values = evaluate_target(table.frame, target)
    kept = np.flatnonzero(values.kept)
    if kept.size < MIN_ROWS:
        raise InputError(f"{table.source}: only {kept.size} rows have a finite target {target_expression!r}; "
                         f"need at least {MIN_ROWS}")
    graphs = [table.graphs[i] for i in kept]
    schema = space.schema(graphs)
    store = EncodedGraphs(graphs, schema)
    y = values.values

    # What each hop's modules can say about the target by the table alone: the collapse guard's reference.
    ceilings = hop_ceilings([g.signatures(model_config.layers) for g in graphs], y)
    result = train_predictor(store, y, model_config, train_config, progress, should_stop, ceilings)
    if result.heldout is not None and result.val_ids.size >= 2:
        # Out of fold: each held-out row predicted by the members that never learnt from it.
        held, pred_std, norms = result.heldout
    else:
        held = result.train_ids
        pred_std, norms = predict_encoded(result.model, store, held)
    predicted = pred_std * result.target_std + result.target_mean
    train_pred, train_norms = predict_encoded(result.model, store, result.train_ids)
    metrics = {
        "heldout_split": "validation" if result.val_ids.size >= 2 else NO_SPLIT,
        "heldout": quality(predicted, y[held], norms),
        "train": quality(train_pred * result.target_std + result.target_mean, y[result.train_ids], train_norms),
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "restored_best": result.restored_best,
        "train_seconds": result.seconds,
        "members": result.members,
        "history": result.history,
    }
    frame = table.frame.iloc[kept].reset_index(drop=True)
    config = RunConfig(
        space=table.space_name, dataset=lookup.dataset, dataset_note=lookup.note, target=target_expression,
        target_columns=tuple(target.columns),
        metric_columns=tuple(table.metric_columns), train=train_config, model=model_config,
        seed=train_config.seed, table_source=table.source, table_hash=table_hash(table), rows=int(kept.size),
        excluded_rows=tuple(int(r) for r in values.excluded_rows), train_rows=tuple(result.train_ids.tolist()),
        val_rows=tuple(result.val_ids.tolist()), target_mean=float(result.target_mean),
        target_std=float(result.target_std), hop_moments=tuple(tuple(map(float, m)) for m in result.hop_moments))
    path = save_run(out, config=config, model=result.model, metrics=metrics, table=frame, overwrite=overwrite)
    summary = values.summary() if values.excluded_rows else ""
    return TrainOutcome(Run.load(path), metrics, summary)


def predict_table(run: Run, table: ValidatedTable) -> pd.DataFrame:
    """``arch``, ``predicted`` (target units) and ``norm_hop0`` .. ``norm_hopL`` for every row."""
    if table.space_name != run.config.space:
        raise InputError(f"{table.source} is a {table.space_name} table but run {run.name} was trained "
                         f"on {run.config.space}")
    prediction = run.predict(EncodedGraphs(table.graphs, run.schema))
    out = pd.DataFrame({"arch": table.frame["arch"], "predicted": prediction.values})
    for h in range(prediction.hop_norms.shape[1]):
        out[f"norm_hop{h}"] = prediction.hop_norms[:, h]
    return out


def out_of_fold_note(metrics: dict[str, Any]) -> str:
    """How an ensemble's held-out figures were made (each member holds out its own rows), or ""."""
    members = metrics.get("members") if isinstance(metrics.get("members"), dict) else {}
    folds = members.get("heldout_rows")
    if not isinstance(folds, list) or len(folds) < 2:
        return ""
    return (f" (out of fold: each predicted by the member of {len(folds)} that held it out, so these are one "
            "member's figures; the ensemble's own are usually higher)")


def is_held_out(metrics: dict[str, Any]) -> bool:
    """Whether a run's ``heldout`` figures come from rows it was not trained on (a validation split);
    a run trained on every row has only its training fit there."""
    return metrics.get("heldout_split", "validation") != NO_SPLIT


def restored_weights_note(metrics: dict[str, Any]) -> str:
    """A sentence saying which epoch's weights the run keeps; empty unless the best validation epoch's
    were restored.

    Said in the summaries because the held-out numbers are then those of that epoch, not of the last
    one the progress log showed; a reader comparing the two would otherwise see a contradiction.
    """
    if not metrics.get("restored_best"):
        return ""
    members = metrics.get("members") if isinstance(metrics.get("members"), dict) else {}
    epochs = members.get("best_epochs")
    if isinstance(epochs, list) and len(epochs) > 1:
        # Each member kept its own best epoch, judged on the rows it held out; no one epoch describes them.
        # Runs from before members held out their own rows judged every member on one shared split.
        judged = ", each on its own held-out rows" if "heldout_rows" in members else ""
        return (f"Each member's best validation epoch's weights were restored (epochs "
                f"{', '.join(map(str, epochs))} of {metrics['epochs_run']}{judged}).")
    best = metrics["best_epoch"]
    rho = next((h.get("val_spearman") for h in metrics.get("history", []) if h.get("epoch") == best), None)
    at = "" if rho is None else f", validation Spearman {rho:.3f}"
    return f"The best validation epoch's weights were restored (epoch {best} of {metrics['epochs_run']}{at})."


def members_note(metrics: dict[str, Any]) -> str:
    """A sentence on the ensemble's members and the collapse guard: how many, which hops no member could
    rank (collapsed: every member's train-split norm Spearman below the hop's floor, half of what the
    table's own module means reach there, or 0.5 in runs recorded without floors), and which members were
    left out of which hops or predictions; empty for a run recorded before ensembles."""
    members = metrics.get("members")
    if not isinstance(members, dict) or not isinstance(members.get("count"), int):
        return ""
    parts = [f"{members['count']} member(s)"]
    collapsed = members.get("collapsed_hops") or []
    if collapsed:
        floor = members.get("collapse_floor")
        below = (f"Spearman below {', '.join(f'{floor[h]:.2f}' for h in collapsed)}, half of what the table's own "
                 "module means reach there" if isinstance(floor, list) and len(floor) > max(collapsed)
                 else f"Spearman < {COLLAPSE_SPEARMAN}")
        parts.append(f"COLLAPSED at hop(s) {collapsed}: no member's embedding norms rank the training targets "
                     f"there ({below}), so those hops' module scores are not to be trusted")
    left_out = []
    for k, (hops, head) in enumerate(zip(members.get("hop_used") or [], members.get("head_used") or [])):
        dropped = [h for h, used in enumerate(hops) if not used and h not in collapsed]
        if dropped:
            left_out.append(f"member {k} at hop(s) {dropped}")
        if not head:
            left_out.append(f"member {k}'s predictions (tied on most rows)")
    if left_out:
        parts.append("left out after collapsing: " + ", ".join(left_out))
    return "; ".join(parts) + "."


def format_summary(run: Run, metrics: dict[str, Any]) -> str:
    """A one-screen text summary of a trained run for the terminal."""
    held = metrics["heldout"]

    def f(x: float) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    hops = "  ".join(f"h{h}={f(v)}" for h, v in enumerate(held["hop_norm_spearman"]))
    lines = [
        f"run        {run.path}",
        f"space      {run.config.space}" + (f" / {run.dataset}" if run.dataset else ""),
        *([f"look-up    {run.config.dataset_note}"] if run.config.dataset_note else []),
        f"target     {run.target}   ({run.config.rows} rows; {len(run.config.excluded_rows)} excluded)",
        f"trained    {metrics['epochs_run']} epochs in {metrics['train_seconds']:.1f} s "
        f"({run.config.model.gnn}, width {run.config.model.width}, "
        f"{run.config.model.layers} layers, lambda {run.config.train.lam})",
        *([f"weights    {restored_weights_note(metrics)}"] if metrics.get("restored_best") else []),
        (f"held-out   {metrics['heldout_split']}, {held['rows']} architectures{out_of_fold_note(metrics)}"
         if is_held_out(metrics) else
         f"train fit  no validation split: the fit to the {held['rows']} training architectures, not held-out "
         "quality"),
        f"  Spearman {f(held['spearman'])}   Kendall tau {f(held['kendall_tau'])}   MAE {f(held['mae'])}"
        f"   precision@{held['k']} {f(held['precision_at_k'])}",
        f"  hop-norm Spearman  {hops}",
        *([f"ensemble   {members_note(metrics)}"] if members_note(metrics) else []),
    ]
    return "\n".join(lines)

