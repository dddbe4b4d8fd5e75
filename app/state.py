"""What a browser session remembers, and the tables it works on.

Widgets forget their value when the page that draws them is not shown, so every choice that matters
on another page (the table, the space, the dataset, the target, the run) is copied into one of the
``ab_*`` keys below. They live in ``st.session_state``, which is the browser session's own: one user's
table, target and run never change another's. Frames and parsed tables are cached with
``st.cache_data`` (each caller gets a copy). Runs are in :mod:`app.run_cache`, background work in
:mod:`app.jobs.launch`, widgets shared by pages in :mod:`app.widgets`; everything computational is in :mod:`core`.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import torch

from core.tables import stats as table_stats
from core.errors import InputError
from core.tables.sampling import sample_benchmark
from core.spaces import get_space, onnx_upload
from core.files.table_io import FORMATS, read_table
from core.tables.validated import ValidatedTable, load_table, validate_table
from core.targets.target import TargetValues, evaluate_target, parse_target

# Architecture graphs are tiny: torch's default of one thread per core makes every training step
# wait on synchronisation (the CLI's --threads defaults to 1 for the same reason; a round of a
# campaign took 214-553 s here with 2 threads under load, 6-10 s with 1). The server trains in
# background threads, so the setting is process-wide.
torch.set_num_threads(1)

#: Where the dashboard logs bugs with their tracebacks (the page shows one line).
LOG = logging.getLogger("autobuild.app")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
DEFAULT_TABLE = SAMPLE_DIR / "nasbench-graph_cora_300.csv"
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
BUILDS = "ab_builds"            # (run path, stamp, top, k, readout, limits) -> BuildResult of this session
NOTICE = "ab_notice"            # a one-time message for the next page render
CAMPAIGN = "ab_campaign"        # path (str) of the campaign in use (Loop page)


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


def internal_error_line(what: str, err: BaseException) -> str:
    """The one line shown for a bug (not the user's fault); the caller logs the traceback with ``LOG``."""
    return (f"internal error in {what} (a bug, not a problem with your input): {type(err).__name__}: "
            f"{one_line(err)}; the traceback is in the server log")


def one_line(err: BaseException) -> str:
    """The first line of an error message (InputError messages are one line already), escaped for
    ``st.error``'s Markdown: user text such as ``__import__`` or ``a*b`` is shown as written."""
    text = str(err).strip()
    return escape_markdown(text.splitlines()[0]) if text else type(err).__name__


def escape_markdown(text: str) -> str:
    """``text`` with the characters Streamlit's Markdown would act on backslash-escaped."""
    return re.sub(r"([\\`*_~$\[\]<>])", r"\\\1", text)


def pop_notice() -> str | None:
    return st.session_state.pop(NOTICE, None)


# ------------------------------------------------------------------------------ tables

def bundled_tables() -> list[Path]:
    """The sample tables in ``sample_data/``, the default one first."""
    found = sorted(p for p in SAMPLE_DIR.iterdir() if p.is_file() and _is_table(p.name))
    return sorted(found, key=lambda p: p != DEFAULT_TABLE)


def _is_table(name: str) -> bool:
    return any(name.lower().endswith(ext) for ext in FORMATS)


@st.cache_data(show_spinner=False, max_entries=8)
def bundled_table(path: str, space: str) -> ValidatedTable:
    return load_table(path, space, name=Path(path).name)


@st.cache_data(show_spinner=False, max_entries=16)
def read_raw(data: bytes, name: str) -> pd.DataFrame:
    """An uploaded table as read from its bytes (raises TableError)."""
    return read_table(data, name=name)


@st.cache_data(show_spinner=False, max_entries=8)
def validate_upload(data: bytes, name: str, space: str, base_dir: str | None = None,
                    root: str | None = None) -> ValidatedTable:
    """An uploaded table, validated; ``root``: an unpacked zip whose files alone its specs may name."""
    df = read_table(data, name=name)
    return validate_table(df, space, source=name, base_dir=base_dir, confine_to=root)


@st.cache_data(show_spinner=False, max_entries=8)
def benchmark_sample(space: str, dataset: str, n: int, seed: int) -> ValidatedTable:
    """``n`` random architectures of a shipped benchmark with all its metrics: ``core.tables.sampling``'s sample,
    the same table ``python -m core sample`` writes for this seed."""
    part = sample_benchmark(space, dataset, n, seed)
    return validate_table(part, space, source=f"{space}/{dataset} sample of {n} (seed {seed})")


@st.cache_data(show_spinner=False, max_entries=4)
def lookup_table(space: str, dataset: str) -> pd.DataFrame:
    return get_space(space).metrics_table(dataset)


@st.cache_data(show_spinner=False, max_entries=16)
def column_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-column statistics for the preview (``core.tables.stats.column_stats``), cached per frame."""
    return table_stats.column_stats(frame)


@st.cache_data(show_spinner=False, max_entries=32)
def target_values(frame: pd.DataFrame, expression: str) -> TargetValues:
    """The target of ``frame`` with NaN/inf rows split off (raises TargetError)."""
    return evaluate_target(frame, expression)


def extract_onnx_zip(data: bytes, name: str) -> tuple[bytes, str, str, str]:
    """Unpack an uploaded zip of ``.onnx`` files plus one metrics table (``core.spaces.onnx_upload``);
    return (table bytes, table name, table folder, extraction root that every model path must stay in)."""
    upload = onnx_upload.extract_onnx_zip(data, name)
    return upload.table_bytes, upload.table_name, upload.table_dir, upload.root

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
        set_table(bundled_table(str(DEFAULT_TABLE), DEFAULT_SPACE), DEFAULT_TABLE.name, DEFAULT_DATASET)
    return st.session_state[TABLE]


def current_target() -> str:
    table = current_table()
    expression = st.session_state.get(TARGET) or default_target(table)
    st.session_state[TARGET] = expression
    return expression


# ----------------------------------------------------------------------------- run names

def safe_run_name(text: str) -> str:
    """A run directory name: letters, digits, ``.``, ``_`` and ``-`` only."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip(".-")
    return name[:80]
