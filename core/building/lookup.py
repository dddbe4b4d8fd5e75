"""The true metrics of architectures, looked up in the space's shipped table (when one ships).

Built architectures and baselines get ``true_<metric>`` columns and the ``percentile`` of the run's
target metric, so they can be compared on one page.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import InputError
from core.runs.run import Run


def lookup_table(run: Run) -> tuple[pd.DataFrame | None, str]:
    """The look-up table of the run's space and dataset, indexed by spec (None when none ships or the
    run has no look-up dataset), and a name for it in messages.

    Only the run's own dataset (given at training, or inferred from its table's values:
    ``RunConfig.dataset_note``): never a default one, whose metrics would be another dataset's."""
    space = run.space
    if not space.has_lookup:
        return None, f"space {space.name!r}"
    dataset = run.dataset
    if dataset is None:
        return None, f"run {run.name!r} ({no_true_metrics_reason(run)})"
    try:
        return space.metrics_table(dataset).set_index("arch"), f"the {space.name}/{dataset} look-up table"
    except InputError:
        return None, f"space {space.name!r} for dataset {dataset!r}"


def no_true_metrics_reason(run: Run) -> str:
    """Why a run's architectures get no true metrics, in a phrase ('' when they do)."""
    if run.dataset is not None and run.space.has_lookup:
        return ""
    return run.config.dataset_note or f"space {run.space.name!r} ships no look-up table"


def with_lookup(run: Run, table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` (an ``arch`` column) with the same ``true_<metric>`` and ``percentile``
    columns the built architectures get.

    For baselines such as the regression head's top N (:mod:`core.building.head_top`): shown
    without them, they cannot be compared with the built ones. ``attrs`` are kept.
    """
    out = table.copy()
    add_lookup(run, out)
    out.attrs = dict(table.attrs)
    return out


def add_lookup(run: Run, built: pd.DataFrame) -> None:
    """Add ``true_<metric>`` columns and the ``percentile`` of the target metric, when data ships."""
    table, _ = lookup_table(run)
    if table is None or built.empty:
        return
    for column in table.columns:
        built[f"true_{column}"] = [table[column].get(a, np.nan) for a in built["arch"]]
    metric = next((c for c in run.config.target_columns if c in table.columns), None)
    if metric is not None:
        values = np.sort(table[metric].to_numpy())
        built["percentile"] = [100.0 * np.searchsorted(values, v, side="right") / len(values)
                               if np.isfinite(v) else np.nan for v in built[f"true_{metric}"]]
