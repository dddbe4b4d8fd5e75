"""What a browser session remembers: the ``ab_*`` keys, choices that persist across pages, the table in use.

Widgets forget their value when the page that draws them is not shown, so every choice that matters
on another page (the table, the space, the dataset, the target, the run) is copied into one of the
``ab_*`` keys below. They live in ``st.session_state``, which is the browser session's own: one user's
table, target and run never change another's. Frames and parsed tables are cached with
``st.cache_data`` in :mod:`app.table_cache` (each caller gets a copy); one-line messages are in
:mod:`app.messages`. Runs are in :mod:`app.run_cache`, background work in
:mod:`app.jobs.launch`, widgets shared by pages in :mod:`app.widgets`; everything computational is in :mod:`core`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from app import table_cache
from core.errors import InputError
from core.spaces import get_space
from core.tables.validated import ValidatedTable
from core.targets.target import parse_target

ROOT, DEFAULT_TABLE = table_cache.ROOT, table_cache.DEFAULT_TABLE
DEFAULT_SPACE = "nasbench-graph"
DEFAULT_DATASET = "cora"
DEFAULT_TARGET = "valid_perf"
RUNS_ENV = "AUTOBUILD_RUNS_DIR"
CAMPAIGNS_ENV = "AUTOBUILD_CAMPAIGNS_DIR"

# ------------------------------------------------------------------------ session-state keys
TABLE = "ab_table"              # the ValidatedTable in use
TABLE_LABEL = "ab_table_label"  # where it came from, for captions
SPACE = "ab_space"              # its space name
DATASET = "ab_dataset"          # the benchmark dataset for look-ups (None for user tables)
TARGET = "ab_target"            # the target expression
RUN = "ab_run"                  # path (str) of the run in use
BUILDS = "ab_builds"            # (run path, stamp, top, k, readout, order, limits) -> BuildResult of this session
NOTICE = "ab_notice"            # a one-time message for the next page render
CAMPAIGN = "ab_campaign"        # path (str) of the campaign in use (Loop page)
UPLOAD = "ab_upload_kept"       # (content key, table label) of the uploaded table kept server-side (app/upload_store.py)


def runs_dir() -> Path:
    """Where runs live: ``$AUTOBUILD_RUNS_DIR`` or ``runs/`` in the project."""
    value = os.environ.get(RUNS_ENV)
    return Path(value).expanduser() if value else ROOT / "runs"


def campaigns_dir() -> Path:
    """Where campaigns live: ``$AUTOBUILD_CAMPAIGNS_DIR``, else ``campaigns/`` beside the runs folder, so
    whatever moves the runs (``$AUTOBUILD_RUNS_DIR``: a deployment, a test's temporary folder) moves them too."""
    value = os.environ.get(CAMPAIGNS_ENV)
    return Path(value).expanduser() if value else runs_dir().parent / "campaigns"


def remember(name: str, default: Any = None) -> str:
    """The widget key for a choice persisted under ``name``; seeds the widget from the saved value.

    Draw the widget with ``key=remember(name, default)`` and call :func:`keep` with its value after.
    """
    widget = f"_w_{name}"
    if widget not in st.session_state:
        st.session_state[widget] = st.session_state.get(name, default)
    return widget


def keep(name: str, value: Any) -> Any:
    st.session_state[name] = value
    return value


def select(label: str, options: list, name: str, default: Any = None, *, widget: str = "selectbox",
           **kwargs: Any) -> Any:
    """A select box (or radio) whose choice persists under ``name`` across pages.

    A remembered value that is no longer among ``options`` (e.g. after the table changed) falls back to
    ``default`` (or the first option).
    """
    options = list(options)
    if not options:
        return None
    fallback = default if default in options else options[0]
    saved = st.session_state.get(name, fallback)
    if saved not in options:
        saved = fallback
        st.session_state[name] = fallback
    key = f"_w_{name}"
    if key not in st.session_state or st.session_state[key] not in options:
        st.session_state[key] = saved
    draw = st.radio if widget == "radio" else st.selectbox
    value = draw(label, options, key=key, **kwargs)
    st.session_state[name] = value
    return value


def pop_notice() -> str | None:
    return st.session_state.pop(NOTICE, None)


# ------------------------------------------------------------------------- current table

def set_table(table: ValidatedTable, label: str, dataset: str | None) -> None:
    """Make ``table`` the one every page uses; keep the target if it still fits, else pick the default."""
    st.session_state[TABLE] = table
    st.session_state[TABLE_LABEL] = label
    st.session_state[SPACE] = table.space_name
    st.session_state[DATASET] = dataset
    expression = st.session_state.get(TARGET)
    try:
        parse_target(expression, table.metric_columns)
    except (InputError, TypeError):
        st.session_state[TARGET] = default_target(table)


def default_metric(table: ValidatedTable) -> str:
    """The space's default metric when the table has it, else the table's first metric column."""
    metric = get_space(table.space_name).default_metric
    return metric if metric in table.metric_columns else table.metric_columns[0]


def default_target(table: ValidatedTable) -> str:
    """The space's default target (``-latency_ms`` for a latency table), else the first metric column."""
    columns = table.metric_columns
    first = columns[0] if columns[0].isidentifier() else f"`{columns[0]}`"
    return get_space(table.space_name).default_target(columns) or first


def current_table() -> ValidatedTable:
    """The table in use; the bundled default (NAS-Bench-Graph, Cora, 300 architectures) at first."""
    if TABLE not in st.session_state:
        set_table(table_cache.bundled_table(str(DEFAULT_TABLE), DEFAULT_SPACE), DEFAULT_TABLE.name, DEFAULT_DATASET)
    return st.session_state[TABLE]


def current_target() -> str:
    table = current_table()
    expression = st.session_state.get(TARGET) or default_target(table)
    st.session_state[TARGET] = expression
    return expression
