"""Architecture/metric tables validated against a space: :class:`ValidatedTable`, loading and hashing.

A table has an ``arch`` column (the space's spec string) and metric columns (accuracy, latency, FID,
...). It is the only user data AutoBuild learns from, so every problem in it is reported up front, all
at once, in one line that names the file, the row and the column: a user fixing a 3,000-row CSV should
not have to rerun once per bad row.

Row numbers in messages are 1-based *data* rows, as the user counts them in the file (the header is not
a row): "row 1" is the first architecture.

Reading and writing the files (formats, size limits) is :mod:`core.files.table_io`. The ``arch`` column's
checks are :mod:`core.tables.specs`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.errors import TableError, shorten, shorten_list
from core.graph import ArchGraph
from core.spaces.base import SearchSpace
from core.files.table_io import (
    ARCH,
    TableSource,
    read_table,
)
from core.tables.specs import arch_column


@dataclass
class ValidatedTable:
    """A table that passed :func:`validate_table`.

    Attributes:
        frame: the canonical ``arch`` column plus the float64 metric columns, in the file's row order
            with a fresh 0..n-1 index.
        graphs: one :class:`ArchGraph` per row of ``frame``, built once here.
        metric_columns: the metric columns, in table order.
        source: the file name (or label) used in messages.
        space_name: the space the specs were validated in.
    """

    frame: pd.DataFrame
    graphs: list[ArchGraph]
    metric_columns: tuple[str, ...]
    source: str
    space_name: str

    def __len__(self) -> int:
        return len(self.frame)


# ------------------------------------------------------------------------- validation

def validate_table(
    df: pd.DataFrame,
    space: SearchSpace | str,
    *,
    source: str = "table",
    metric_columns: Sequence[str] | None = None,
    base_dir: str | Path | None = None,
    max_errors: int = 10,
    confine_to: str | Path | None = None,
) -> ValidatedTable:
    """Check a table against ``space`` and build its graphs; raise one :class:`TableError` listing every problem.

    Checks: an ``arch`` column exists; every spec is valid in the space; no two rows are the same
    architecture after canonicalisation; metric columns exist, are numeric and finite.

    ``metric_columns=None`` takes every column except ``arch`` that looks numeric (a numeric dtype, or
    text whose values are mostly numbers, so that one typo is reported rather than the column silently
    dropped). ``base_dir`` is where relative spec paths live (the table's directory); it is handed to the
    space's ``resolve(spec, base_dir)`` when the space has one. At most ``max_errors`` problems are
    spelled out, then "and N more". ``confine_to`` (an uploaded zip's folder) makes every spec a path
    that must name a file inside that folder (``core.spaces.onnx_upload.confined_path``).
    """
    if isinstance(space, str):
        from core.spaces import get_space

        space = get_space(space)
    source = str(source)
    frame = _named_frame(df, source)
    general: list[str] = []  # table-wide problems (missing columns) come first
    by_row: list[tuple[int, int, str]] = []  # (row, column order, message), sorted before reporting

    metrics = _metric_columns(frame, metric_columns, general)
    specs, graphs, duplicates = arch_column(frame, space, base_dir, confine_to, general, by_row)
    values: dict[str, np.ndarray] = {}
    for order, column in enumerate(metrics, start=1):
        values[column] = _check_metric(frame[column], column, order, by_row)

    by_row.sort(key=lambda p: (p[0], p[1]))
    problems = general + [p[2] for p in by_row] + duplicates
    if problems:
        raise TableError(_one_line(source, problems, max_errors))

    out = pd.DataFrame({ARCH: specs, **values})
    return ValidatedTable(
        frame=out,
        graphs=graphs,  # type: ignore[arg-type]  # every entry is set when there were no problems
        metric_columns=tuple(metrics),
        source=source,
        space_name=space.name,
    )


def _named_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """A copy of ``df`` with text column names; an empty table or a repeated name is refused at once."""
    if len(df) == 0:
        raise TableError(f"{source}: the table has no rows")
    columns = [str(c) for c in df.columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise TableError(f"{source}: repeated column names {repeated}; every column needs its own name")
    frame = df.copy()
    frame.columns = columns
    return frame


def _metric_columns(frame: pd.DataFrame, requested: Sequence[str] | None, problems: list[str]) -> list[str]:
    columns = list(frame.columns)
    if requested is None:
        found = [c for c in columns if c != ARCH and _looks_numeric(frame[c])]
        if not found:
            problems.append(f"no numeric metric columns besides {ARCH!r}; columns are {shorten_list(columns)}")
        return found
    if isinstance(requested, str):
        requested = [requested]
    wanted = list(dict.fromkeys(str(c) for c in requested))
    missing = [c for c in wanted if c not in columns]
    if missing:
        others = [c for c in columns if c != ARCH]
        noun = "column" if len(missing) == 1 else "columns"
        problems.append(f"metric {noun} {', '.join(map(shorten, missing[:5]))} not found; columns are {shorten_list(others)}")
    if ARCH in wanted:
        problems.append(f"{ARCH!r} holds the architectures and cannot be a metric column")
    return [c for c in wanted if c in columns and c != ARCH]


def _looks_numeric(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False  # flags such as "is_valid" are not metrics to learn
    if pd.api.types.is_numeric_dtype(series):
        return True
    present = series.dropna()
    if len(present) == 0 or present.map(lambda v: isinstance(v, (dict, list))).any():
        return False
    parsed = pd.to_numeric(present, errors="coerce")
    return parsed.notna().mean() > 0.5


def _check_metric(series: pd.Series, column: str, order: int, problems: list[tuple[int, int, str]]) -> np.ndarray:
    """The column as float64; every non-numeric, NaN or infinite cell is recorded as a problem."""
    numbers = pd.to_numeric(series, errors="coerce").astype(np.float64).to_numpy()
    present = series.notna().to_numpy()
    for i in np.flatnonzero(~np.isfinite(numbers)):
        row = i + 1
        if present[i] and np.isnan(numbers[i]):
            why = f"not a number ({_shown_value(series.iloc[i])})"
        elif np.isnan(numbers[i]):
            why = "NaN"
        else:
            why = "inf" if numbers[i] > 0 else "-inf"
        problems.append((row, order, f"row {row} column {column!r}: {why}"))
    return numbers


def _shown_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(source: str, problems: list[str], max_errors: int) -> str:
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    shown = problems[: max(1, max_errors)]
    more = len(problems) - len(shown)
    tail = f"; and {more} more" if more else ""
    return f"{source}: {len(problems)} problems: " + "; ".join(shown) + tail


def load_table(
    source: TableSource,
    space: SearchSpace | str,
    *,
    name: str | None = None,
    metric_columns: Sequence[str] | None = None,
    max_errors: int = 10,
) -> ValidatedTable:
    """:func:`read_table` then :func:`validate_table`, with relative specs resolved next to a table file."""
    df = read_table(source, name=name)
    label = name or (str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "table"))
    base_dir = Path(source).parent if isinstance(source, (str, Path)) else None
    return validate_table(
        df, space, source=label, metric_columns=metric_columns, base_dir=base_dir, max_errors=max_errors
    )


# ----------------------------------------------------------------------------- hashing

def table_hash(df: pd.DataFrame | ValidatedTable) -> str:
    """A stable sha256 of a (validated) table: column names, ``arch`` texts and exact metric values.

    Recorded in a run's config so a result can be tied to the exact data it was trained on. Row order
    counts (it decides splits under a seed). Numbers are hashed as little-endian float64 bytes, so the
    hash does not depend on how pandas prints floats or on the file format the table came from.
    """
    frame = df.frame if isinstance(df, ValidatedTable) else df
    h = hashlib.sha256()
    h.update(f"rows={len(frame)}\n".encode())
    for column in frame.columns:
        series = frame[column]
        h.update(f"column={column}\n".encode())
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            h.update(series.to_numpy(dtype="<f8").tobytes())
        else:
            for value in series.tolist():
                text = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)
                data = text.encode("utf-8")
                h.update(f"{len(data)}:".encode() + data)  # length prefix: "ab","c" never hashes as "a","bc"
        h.update(b"\n")
    return h.hexdigest()
