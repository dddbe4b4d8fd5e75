"""Which shipped look-up dataset a table comes from, told by its numbers, never assumed.

A space with a shipped benchmark (NAS-Bench-Graph: 9 datasets) can give built architectures their
true metrics, but only those of the dataset the table was measured on: cora's accuracies shown for a
citeseer run are wrong figures with nothing said. So when the user names no dataset, the table's own
metric values decide: the dataset whose look-up rows they match (every row's architecture present,
every shared metric column equal) is the one, and when none or several match there is none, with the
reason. :func:`resolve_lookup_dataset` returns the choice and a sentence saying how it was made, which
a run records next to the dataset.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import InputError

#: Relative tolerance of "equal": values that went through CSV, Parquet float32 or JSON text are equal
#: to about 1e-7; two datasets' accuracies differ far more.
MATCH_RTOL = 1e-6


@dataclass(frozen=True)
class LookupDataset:
    """dataset: the look-up dataset of a table (None: no true metrics for it); note: how it was chosen,
    or why there is none, in one sentence."""

    dataset: str | None
    note: str


def resolve_lookup_dataset(space, frame: pd.DataFrame, metric_columns, dataset: str | None = None) -> LookupDataset:
    """The look-up dataset of a table of ``space`` (``arch`` and ``metric_columns``).

    ``dataset`` given: that one (checked against the space's list). Not given: inferred from the values
    (:func:`matching_datasets`); none or several matching gives None and says so. A space without a
    shipped table has none.
    """
    if not getattr(space, "has_lookup", False) or not space.datasets:
        return LookupDataset(None, f"space {space.name!r} ships no look-up table")
    if dataset is not None:
        return LookupDataset(space.resolve_dataset(dataset), f"{dataset} (given)")
    shared = [str(c) for c in metric_columns if str(c) in _lookup_columns(space)]
    if not shared:
        return LookupDataset(None, f"no look-up dataset: the table's metric columns {list(map(str, metric_columns))} "
                                   f"share no name with the {space.name} look-up table's, so no true metrics")
    found = matching_datasets(space, frame, shared)
    columns = ", ".join(shared)
    if len(found) == 1:
        return LookupDataset(found[0], f"{found[0]} (inferred: the table's {columns} values match its look-up rows)")
    if not found:
        return LookupDataset(None, f"no look-up dataset: the table's {columns} values match none of "
                                   f"{', '.join(space.datasets)}, so no true metrics (name one to get them)")
    return LookupDataset(None, f"no look-up dataset: the table's {columns} values match {', '.join(found)} alike, "
                               "so no true metrics (name one to get them)")


def matching_datasets(space, frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The shipped datasets whose look-up table holds every architecture of ``frame`` with the same
    values (to :data:`MATCH_RTOL`) in every one of ``columns``."""
    if frame.empty:
        return []
    specs = frame["arch"].astype(str)
    mine = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    found = []
    for name in space.datasets:
        table = _indexed(space, name)
        # The first row rules most datasets out before the whole table is compared.
        if specs.iloc[0] not in table.index or not _close(table.loc[[specs.iloc[0]], columns].to_numpy(), mine[:1]):
            continue
        if not specs.isin(table.index).all():
            continue
        if _close(table.loc[specs, columns].to_numpy(dtype=np.float64), mine):
            found.append(name)
    return found


def _close(theirs: np.ndarray, mine: np.ndarray) -> bool:
    return bool(np.isclose(theirs, mine, rtol=MATCH_RTOL, atol=0.0).all())


def _lookup_columns(space) -> list[str]:
    return [c for c in _indexed(space, space.datasets[0]).columns]


def _indexed(space, dataset: str) -> pd.DataFrame:
    return _indexed_by_name(space.name, dataset)


@functools.lru_cache(maxsize=16)
def _indexed_by_name(space_name: str, dataset: str) -> pd.DataFrame:
    """A dataset's look-up table indexed by spec, once per process (read-only by the callers)."""
    from core.spaces import get_space

    try:
        return get_space(space_name).metrics_table(dataset).set_index("arch")
    except InputError:
        return pd.DataFrame()


def evaluated_architectures(space, dataset: str | None) -> list[str] | None:
    """The architectures ``dataset`` evaluates, when they are only part of the space (NAS-Bench-Graph's
    proteins evaluates 2,021 of 26,206: five of the nine ops); None when it evaluates all of it, or there
    is no such dataset.

    A run on such a dataset has a target only there, and its predictor never saw the ops the dataset
    lacks: what it says of architectures holding them is extrapolation. Rankings and builds therefore pool
    only these (core/scoring/space_estimate.py, core/building/pool.py).
    """
    if not dataset or dataset not in space.datasets or not space.enumerable:
        return None
    table = space.metrics_table(dataset)
    return [str(a) for a in table["arch"]] if len(table) < (space.size() or 0) else None
