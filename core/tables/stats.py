"""Per-column statistics of a table, as the Data page's preview shows them (and any caller can print)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def column_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column: type, rows, missing and distinct values, and a numeric summary.

    Text columns whose values are mostly numbers (a metric with a typo) get the numeric summary too,
    with unparseable, NaN-text or infinite cells counted as ``unusable``. The ``arch`` column and
    boolean columns get no numeric summary.
    """
    return pd.DataFrame([_column_row(column, frame[column]) for column in frame.columns])


def _column_row(column: Any, series: pd.Series) -> dict[str, Any]:
    row: dict[str, Any] = {
        "column": str(column),
        "type": str(series.dtype),
        "rows": int(len(series)),
        "missing": int(series.isna().sum()),
        "distinct": int(series.astype(str).nunique()),
    }
    if column == "arch" or pd.api.types.is_bool_dtype(series):
        return row
    numeric_dtype = pd.api.types.is_numeric_dtype(series)
    numeric = series if numeric_dtype else pd.to_numeric(series, errors="coerce")
    present = series.notna()
    if numeric_dtype or (present.any() and numeric[present].notna().mean() > 0.5):
        values = numeric.astype(float)
        finite = values[np.isfinite(values)]
        row.update(mean=finite.mean(), std=finite.std(), min=finite.min(), median=finite.median(),
                   max=finite.max(), unusable=int((present & ~np.isfinite(values)).sum()))
    return row
