"""One sampler of shipped benchmarks, used by ``python -m core sample`` and the dashboard's Data page alike.

``sample_benchmark(space, dataset, n, seed)`` draws ``n`` distinct rows of the space's look-up table with
``numpy.random.default_rng(seed)`` and keeps them in the table's own order, so one seed gives the same
table (and so the same train/validation split downstream) wherever it is drawn.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import InputError
from core.spaces import get_space


def sample_rows(table: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` distinct rows of ``table`` chosen with ``seed``, in the table's order, index reset."""
    if n < 1:
        raise InputError(f"the sample size must be positive, not {n}")
    if n > len(table):
        raise InputError(f"asked for {n} architectures; the table has only {len(table)}")
    rows = np.random.default_rng(seed).choice(len(table), size=n, replace=False)
    return table.iloc[np.sort(rows)].reset_index(drop=True)


def sample_benchmark(space: str, dataset: str | None, n: int, seed: int) -> pd.DataFrame:
    """``n`` distinct architectures of a shipped benchmark with all its metrics (``arch`` + metric columns).

    ``dataset`` None picks the space's first; unknown spaces, datasets and too-large ``n`` raise
    :class:`core.errors.InputError` with one line naming the value.
    """
    searched = get_space(space)
    dataset = searched.resolve_dataset(dataset)
    table = searched.metrics_table(dataset)
    if n > len(table):
        raise InputError(f"{space}/{dataset} has only {len(table)} architectures; asked for {n}")
    return sample_rows(table, n, seed)
