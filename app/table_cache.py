"""The tables pages work on, read and validated once per input (``st.cache_data``: every caller gets a copy):
bundled samples, uploads, benchmark samples and look-up tables, column statistics and target values.

Graphs are tiny, so torch uses one thread: its default of one per core makes every training step wait on
synchronisation (docs/decisions.md); the server trains in background threads, so the setting is
process-wide and made where the app first loads core.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from core.files.table_io import FORMATS, read_table
from core.spaces import get_space, onnx_upload
from core.tables import stats as table_stats
from core.tables.sampling import sample_benchmark
from core.tables.validated import ValidatedTable, load_table, validate_table
from core.targets.target import TargetValues, evaluate_target

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
DEFAULT_TABLE = SAMPLE_DIR / "nasbench-graph_cora_300.csv"


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
