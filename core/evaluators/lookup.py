"""Look-up evaluation on a shipped benchmark (NAS-Bench-Graph, NAS-Bench-201): the metrics a real
training run produced, read from the table inside the PyPI package. Free, exact and deterministic,
so a campaign on it is a faithful, fast rehearsal of one that trains networks."""
from __future__ import annotations

import functools
from typing import Any

import pandas as pd

from core.evaluators.base import ArchEvaluator, EvaluationError
from core.spaces import get_space


@functools.lru_cache(maxsize=8)
def _indexed(space: str, dataset: str) -> pd.DataFrame:
    return get_space(space).metrics_table(dataset).set_index("arch")


class LookupEvaluator(ArchEvaluator):
    """space, dataset: a space with a shipped table and one of its datasets (None: the first);
    columns: the metric columns to return (None: all of the table's)."""

    name = "lookup"
    task_batch = 256

    def __init__(self, space: str, dataset: str | None = None, columns: list[str] | None = None) -> None:
        self._space = get_space(space).name
        self.dataset = get_space(space).resolve_dataset(dataset)
        table = _indexed(self._space, self.dataset)
        self.columns = tuple(columns) if columns else tuple(str(c) for c in table.columns)
        unknown = [c for c in self.columns if c not in table.columns]
        if unknown:
            raise EvaluationError(f"{space}/{self.dataset} has no metric {unknown}; it has {list(table.columns)}")

    @property
    def space_name(self) -> str:
        return self._space

    def metrics(self) -> tuple[str, ...]:
        return self.columns

    def evaluate_one(self, spec: str) -> dict[str, float]:
        table = _indexed(self._space, self.dataset)
        canonical = get_space(self._space).canonical(spec)
        if canonical not in table.index:
            raise EvaluationError(f"{spec} is not in the {self._space}/{self.dataset} table")
        row = table.loc[canonical]
        return {c: float(row[c]) for c in self.columns}

    def can_evaluate(self, spec: str) -> bool:
        return spec in _indexed(self._space, self.dataset).index

    def task_resources(self) -> dict[str, float]:
        return {"num_cpus": 1}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "space": self._space, "dataset": self.dataset, "columns": list(self.columns)}

    def describe(self) -> str:
        return f"look-up in {self._space}/{self.dataset}"
