"""Saved runs as the pages see them: the list, this session's current run, and cached results of a run.

Runs live in one folder per server (``state.runs_dir()``), so a finished run appears in every session's
list; which run a session is looking at (``state.RUN``) belongs to that session. Loaded runs (a torch
model) are cached with ``st.cache_resource`` (shared: never mutate one), derived tables and scores with
``st.cache_data`` (each caller gets a copy). ``stamp`` arguments change when a run directory is rewritten,
so cached results of an old run are not reused.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import state
from core.runs.listing import RunSummary, list_runs
from core.runs.loading import CONFIG_FILE
from core.runs.run import Run, sweep_run_folder
from core.tables.validated import ValidatedTable, validate_table
from core.targets.target import evaluate_target

from app import messages

#: Largest space the Build page scores exhaustively in the page itself (bigger: the CLI command).
EXHAUSTIVE_IN_PAGE = 100_000


#: When this server process started serving (this module is imported by the first page run, before any
#: training this server starts can claim a run name).
SERVER_STARTED = time.time()


@st.cache_resource(show_spinner=False)
def startup_sweep(root: str) -> list[str]:
    """Once per server and runs folder: remove empty run claims older than the server and staging
    folders of saves whose process is gone (core.runs.run.sweep_run_folder), so a name a killed server
    had claimed is free again."""
    removed = [str(p) for p in sweep_run_folder(root, SERVER_STARTED)]
    if removed:
        messages.LOG.warning("removed %d leftover run claim(s) or staging folder(s): %s", len(removed),
                             ", ".join(removed[:10]))
    return removed


def runs() -> list[RunSummary]:
    """The usable runs of the server's runs folder (a damaged one never reaches a page that needs a run)."""
    startup_sweep(str(state.runs_dir()))
    return list_runs(state.runs_dir())


def damaged_runs() -> list[RunSummary]:
    """The runs whose files are damaged, each with its one-line reason (the Train page lists them)."""
    return [r for r in list_runs(state.runs_dir(), damaged=True) if r.damaged]


def run_stamp(path: str | Path) -> float:
    """Changes when a run directory is rewritten."""
    try:
        return (Path(path) / CONFIG_FILE).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=4)
def load_run(path: str, stamp: float) -> Run:
    """A loaded run (model in eval mode). Shared across sessions: never mutate it."""
    return Run.load(path)


def current_run_path() -> str | None:
    """This session's run: the one it chose last, else the newest saved run, else None."""
    available = runs()
    chosen = st.session_state.get(state.RUN)
    if chosen and any(str(r.path) == chosen for r in available):
        return chosen
    if available:
        st.session_state[state.RUN] = str(available[0].path)
        return st.session_state[state.RUN]
    return None


def run_label(summary: RunSummary) -> str:
    rho = "n/a" if summary.spearman is None else f"{summary.spearman:.2f}"
    where = summary.space + (f"/{summary.dataset}" if summary.dataset else "")
    return f"{summary.name}  ·  {where}  ·  {summary.target}  ·  Spearman {rho}"


@st.cache_data(show_spinner=False, max_entries=4)
def run_table(path: str, stamp: float) -> ValidatedTable:
    """The run's training table, validated again to rebuild its graphs."""
    run = load_run(path, stamp)
    return validate_table(run.table(), run.space, source=f"run {run.name}", metric_columns=list(run.config.metric_columns))


@st.cache_data(show_spinner=False, max_entries=4)
def run_targets(path: str, stamp: float) -> np.ndarray:
    run = load_run(path, stamp)
    return evaluate_target(run_table(path, stamp).frame, run.target).values


@st.cache_data(show_spinner=False, max_entries=4)
def module_scores(path: str, stamp: float):
    """:class:`core.scoring.modules.ModuleScores` of the run's training architectures."""
    from core.scoring.modules import score_modules
    from core.scoring.space_estimate import draw_pool

    run = load_run(path, stamp)
    table = run_table(path, stamp)
    targets = evaluate_target(table.frame, run.target)
    pool = draw_pool(run, table.frame["arch"].astype(str))
    # The run table holds only rows with a finite target, so every row is kept.
    return score_modules(run, table.graphs, targets.values if targets.kept.all() else None, pool)


@st.cache_data(show_spinner=False, max_entries=4)
def run_predictions(path: str, stamp: float) -> pd.DataFrame:
    """The run's training architectures with their predicted target and graph size."""
    run = load_run(path, stamp)
    table = run_table(path, stamp)
    prediction = run.predict(table.graphs)
    return pd.DataFrame({"arch": table.frame["arch"], "predicted": prediction.values,
                         "nodes": [g.num_nodes for g in table.graphs]})


@st.cache_data(show_spinner=False, max_entries=64)
def architecture_scores(path: str, stamp: float, spec: str) -> np.ndarray:
    """Scores [nodes, L+1] of one architecture's nodes."""
    from core.scoring.modules import architecture_scores as scores

    run = load_run(path, stamp)
    return scores(run, run.space.to_graph(spec))
