"""Train: fit AutoBuild's predictor on the current table and target; list, reopen and compare runs.

Training runs in a background job (:mod:`app.jobs.launch`; it waits in the server's training queue when every
slot is taken): the page polls its progress every second, the Stop button ends it after the current
epoch (the run is still saved), and the other pages stay usable meanwhile. The run's directory is
claimed before the job starts (``core.runs.names.claim_run_dir``), so two sessions never train into one name.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import pandas as pd
import streamlit as st

from app import jobs, messages, run_cache, state, widgets
from core import viz
from core.predictor import GNN_LAYERS, PredictorConfig, TrainConfig
from core.predictor.config import MAX_MEMBERS
from core.runs.names import RunNameTaken, claim_run_dir
from core.runs.run import Run
from core.tables.validated import ValidatedTable
from core.workflow import is_held_out, members_note, out_of_fold_note, restored_weights_note

#: Training settings core knows, with core's defaults (the dashboard only changes the epoch count).
TRAIN_FIELDS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
MODEL_FIELDS = {f.name: f.default for f in dataclasses.fields(PredictorConfig)}
DEFAULTS = {
    "gnn": MODEL_FIELDS["gnn"], "width": MODEL_FIELDS["width"], "layers": MODEL_FIELDS["layers"],
    "epochs": TRAIN_FIELDS["epochs"],
    "lam": float(TRAIN_FIELDS["lam"]), "seed": 0, "val_fraction": float(TRAIN_FIELDS["val_fraction"]),
    "lr": float(TRAIN_FIELDS["lr"]), "batch_size": TRAIN_FIELDS["batch_size"],
    "min_steps": TRAIN_FIELDS["min_steps"], "members": MODEL_FIELDS["members"],
}
#: Why the running job trains more epochs than asked ("" when it does not).
EPOCHS_NOTE = "ab_train_epochs_note"


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _param(name: str, widget, label: str, **kwargs):
    """A form widget whose value persists across pages under ``ab_hp_<name>``."""
    key = state.remember(f"ab_hp_{name}", DEFAULTS.get(name))
    value = widget(label, key=key, **kwargs)
    return value


def hyperparameter_form() -> None:
    table, target, dataset = widgets.table_in_use()
    with st.form("train_form"):
        settings = _settings_inputs()
        name, submitted = _name_and_submit()
    if submitted:
        _start_training(table, target, dataset, settings, name)


def _settings_inputs() -> dict[str, Any]:
    """The form's model and training settings, two rows of five (each starts at the session's last choice)."""
    v: dict[str, Any] = {}
    cols = st.columns(5)
    with cols[0]:
        v["gnn"] = _param("gnn", st.selectbox, "GNN layer", options=list(GNN_LAYERS),
                          help="Message-passing layer: GraphConv (default: steadier and more accurate here), GATv2 "
                          "(the paper's) or GIN.")
    with cols[1]:
        v["width"] = _param("width", st.number_input, "Width", min_value=4, max_value=256, step=4,
                            help="Node-embedding size of every GNN layer.")
    with cols[2]:
        v["layers"] = _param("layers", st.number_input, "Layers (hops)", min_value=1, max_value=8, step=1,
                             help="L message-passing layers give module scores for hops 0..L.")
    with cols[3]:
        v["epochs"] = _param("epochs", st.number_input, "Epochs", min_value=1, max_value=2000, step=10)
    with cols[4]:
        v["lam"] = _param("lam", st.number_input, "λ (rank loss)", min_value=0.0, max_value=10.0, step=0.1,
                          help="Weight of the magnitude-ranked embedding loss; 0 is the plain-MSE ablation.")
    cols = st.columns(5)
    with cols[0]:
        v["seed"] = _param("seed", st.number_input, "Seed", min_value=0, step=1)
    with cols[1]:
        v["val_fraction"] = _param(
            "val_fraction", st.number_input, "Validation fraction", min_value=0.0, max_value=0.5, step=0.05,
            help="Share of the rows each ensemble member holds out (a different share per member, so the "
                 "ensemble still learns from every row); the result card's held-out metrics predict each row "
                 "with the member that held it out.")
    with cols[2]:
        v["lr"] = _param("lr", st.number_input, "Learning rate", min_value=1e-5, max_value=1.0, step=1e-3,
                         format="%.4f")
    with cols[3]:
        auto_batch = DEFAULTS["batch_size"] == 0
        v["batch_size"] = _param("batch_size", st.number_input, "Batch size" + (" (0 = auto)" if auto_batch else ""),
                                 min_value=0 if auto_batch else 4, max_value=4096, step=16)
    with cols[4]:
        v["min_steps"] = _param("min_steps", st.number_input, "Min. optimiser steps", min_value=0,
                                max_value=100_000, step=100,
                                help="A small table is trained for more epochs until it has had this many "
                                     "optimiser steps; 0 trains exactly the epochs above.")
    v["members"] = _param("members", st.number_input, "Ensemble members", min_value=1, max_value=MAX_MEMBERS, step=1,
                          help="Predictors started from different weights, trained together and read as one; "
                               "their spread is the interval every module score is shown with. 1 = a single "
                               "predictor.")
    return v


def _name_and_submit() -> tuple[str, bool]:
    cols = st.columns([2, 1])
    with cols[0]:
        name = st.text_input("Run name", key="ab_run_name", placeholder="automatic",
                             help="A directory under the runs folder; letters, digits, . _ -")
    with cols[1]:
        st.write("")
        st.write("")
        submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:")
    return name, submitted


def _start_training(table: ValidatedTable, target: str, dataset: str | None, v: dict[str, Any], name: str) -> None:
    """Validate the settings, claim the run's name (refused before any training), start the job."""
    for key in DEFAULTS:  # keep the choices for the next visit
        state.keep(f"ab_hp_{key}", st.session_state.get(f"_w_ab_hp_{key}"))
    epochs = int(v["epochs"])
    try:
        model_config = PredictorConfig(gnn=v["gnn"], width=int(v["width"]), layers=int(v["layers"]),
                                       members=int(v["members"]))
        train_config = TrainConfig(epochs=epochs, lam=float(v["lam"]), seed=int(v["seed"]),
                                   val_fraction=float(v["val_fraction"]), lr=float(v["lr"]),
                                   batch_size=int(v["batch_size"]), eval_every=1 if epochs <= 50 else 5,
                                   min_steps=int(v["min_steps"]))
    except ValueError as err:
        st.error(messages.one_line(err))
        return
    explicit = bool(name.strip())
    run_name = messages.safe_run_name(name) if explicit else auto_run_name(table.space_name, dataset, target)
    if not run_name:
        st.error("the run name needs at least one letter or digit")
        return
    try:  # one mkdir: of two sessions asking for one name at once, exactly one gets it
        out = claim_run_dir(state.runs_dir(), run_name, unique=not explicit)
    except RunNameTaken:
        st.error(f"A run named {run_name!r} already exists or is being trained right now; type another run name "
                 "above, or leave it empty for an automatic one.")
        return
    st.session_state[EPOCHS_NOTE] = raised_epochs_note(len(table), v["epochs"], v["val_fraction"], v["seed"],
                                                       v["batch_size"], v["min_steps"], v["members"])
    jobs.start_training(table, target, out, dataset=dataset, model_config=model_config, train_config=train_config)
    st.rerun()


def raised_epochs_note(rows: int, epochs, val_fraction, seed, batch_size, min_steps, members=1) -> str:
    """Why training will run more epochs than asked (``min_steps`` on a small table), or ""."""
    if not min_steps:
        return ""
    from core.predictor.train import epochs_for, member_folds, resolve_batch_size, training_ids

    # An epoch passes over every row some member learns from (each member holds out its own rows).
    n_train = training_ids(rows, member_folds(rows, float(val_fraction), int(seed), int(members))).size
    if n_train < 4:
        return ""
    batch = resolve_batch_size(int(batch_size), n_train)
    total = epochs_for(TrainConfig(epochs=int(epochs), min_steps=int(min_steps)), n_train, batch)
    if total <= int(epochs):
        return ""
    return (f"Training will run {total} epochs, not {int(epochs)}: {n_train} training architectures in batches "
            f"of {batch} give {max(1, n_train // batch)} optimiser steps per epoch, and \"Min. optimiser steps\" "
            f"asks for at least {int(min_steps)} (set it to 0 to train exactly the epochs asked for).")


def auto_run_name(space: str, dataset: str | None, target: str) -> str:
    """A readable name: space, dataset, target and the second it was asked for; ``claim_run_dir`` adds
    ``-2``, ``-3`` ... when another session (or process) took the same one in that second."""
    slug = messages.safe_run_name(target)[:24] or "target"
    return f"{space}-{dataset or 'table'}-{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


def draw_training(job: jobs.Job) -> None:
    """Progress bar, live curves and the Stop button of a running training job."""
    last = job.history[-1] if job.history else {}
    text = (f"epoch {job.epoch}/{job.total}" + (f" · loss {last['loss']:.3f}" if last else "")
            + (f" · val Spearman {last['val_spearman']:.3f}" if last.get("val_spearman") is not None else ""))
    st.progress(min(1.0, job.fraction), text=f"Training `{job.label}` · {text} · {job.elapsed:.0f} s")
    if st.session_state.get(EPOCHS_NOTE):
        st.caption(st.session_state[EPOCHS_NOTE])
    widgets.stop_button(job, "Stop", "Stopping after this epoch...", "stop_training",
                        "Ends training after the current epoch; the model so far is saved as a run.")
    st.plotly_chart(viz.training_curves(job.history), key="live_curves")


def finish_job() -> None:
    """Turn this session's finished job into a notice and make its run the current one."""
    job = jobs.collect_finished_job(jobs.JOB, "training")
    if job is None:
        return
    st.session_state[state.RUN] = job.key
    st.session_state.pop("_w_train_run_picker", None)
    how = "stopped early and saved" if job.status == "stopped" else "finished"
    message = f"Run `{job.label}` {how} after {job.epoch} epochs in {job.elapsed:.1f} s."
    if job.result is not None and job.result.excluded_summary:
        message += f" {job.result.excluded_summary}."
    st.session_state[state.NOTICE] = ("success", message)


def result_card(run: Run) -> None:
    metrics = run.metrics or {}
    held = metrics.get("heldout", {})
    with st.container(border=True):
        st.markdown(f"#### {run.name}")
        cfg = run.config
        st.caption(f"{cfg.space}" + (f"/{run.dataset}" if run.dataset else "") + f" · target `{run.target}` · "
                   f"{cfg.rows} architectures ({len(cfg.excluded_rows)} excluded) · "
                   f"{cfg.model.gnn}, width {cfg.model.width}, {cfg.model.layers} layers, "
                   f"λ {cfg.train.lam}, seed {cfg.seed} · {metrics.get('epochs_run', '?')} epochs in "
                   f"{metrics.get('train_seconds', float('nan')):.1f} s")
        held_out = is_held_out(metrics)
        cols = st.columns(4)
        cols[0].metric("Held-out Spearman" if held_out else "Training-fit Spearman", _fmt(held.get("spearman")))
        cols[1].metric("Kendall tau", _fmt(held.get("kendall_tau")))
        cols[2].metric("MAE", _fmt(held.get("mae"), 4))
        cols[3].metric(f"Precision@{held.get('k', 'k')}", _fmt(held.get("precision_at_k")))
        restored = restored_weights_note(metrics)
        if held_out:
            st.caption(f"Held out: {metrics.get('heldout_split', 'validation')} split, {held.get('rows', '?')} "
                       f"architectures{out_of_fold_note(metrics)}, in the target's own units. {restored}")
        else:
            st.caption(f"No validation split: these are the fit to the {held.get('rows', '?')} training "
                       f"architectures, not held-out quality. {restored}")
        if cfg.dataset_note:
            st.caption(f"Look-up dataset: {cfg.dataset_note}.")
        note = members_note(metrics)
        if "COLLAPSED" in note or "left out" in note:
            st.warning(f"Ensemble: {note}")
        elif note:
            st.caption(f"Ensemble: {note}")
        cols = st.columns(2)
        with cols[0]:
            st.plotly_chart(viz.hop_spearman_bars(held.get("hop_norm_spearman", [])), key="hop_bars")
        with cols[1]:
            st.plotly_chart(viz.training_curves(metrics.get("history", [])), key="run_curves")


def run_list() -> None:
    st.subheader("Saved runs")
    available = run_cache.runs()
    damaged = run_cache.damaged_runs()
    if damaged:
        st.warning(f"{len(damaged)} run{'s' if len(damaged) != 1 else ''} in `{state.runs_dir()}` cannot be used: "
                   "their files are damaged (listed below, not offered anywhere).")
        st.dataframe(pd.DataFrame([{"run": r.name, "why": r.damaged} for r in damaged]), hide_index=True,
                     key="damaged_run_table")
    if not available:
        st.info(f"No runs yet in `{state.runs_dir()}`. Start one above; it is saved there and survives a restart.")
        return
    frame = pd.DataFrame([{
        "run": r.name, "space": r.space, "dataset": r.dataset or "", "target": r.target, "rows": r.rows,
        "created": r.created, "held-out Spearman": r.spearman if r.held_out else None,
    } for r in available])
    st.dataframe(frame, hide_index=True, key="run_table",
                 column_config={"held-out Spearman": st.column_config.NumberColumn(format="%.3f")})
    run = widgets.run_picker("Reopen a run", key="_w_train_run_picker")
    if run is not None:
        result_card(run)
        widgets.directory_actions(run.path, "run", key="train_run")


def render() -> None:
    st.title("Train")
    st.caption("Fit the FE-MLP + GNN predictor with the magnitude-ranked embedding loss: better architectures get "
               "larger embedding norms at every hop, which makes node norms module scores.")
    finish_job()
    widgets.show_notice()
    if widgets.follow_job(jobs.JOB, "Run", draw_training) is None:
        hyperparameter_form()
    run_list()


if __name__ == "__main__":
    render()
