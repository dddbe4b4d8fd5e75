"""Constraints on built architectures: ``latency <= 0.004``, ``para < 1.0``, ``flops_m <= 300``.

A constraint bounds one metric of an architecture: a column of the space's look-up table
(NAS-Bench-Graph ships ``latency`` and ``para`` next to the accuracies; NAS-Bench-201 via
analog-nasbench ships the accuracies under quantisation, noise and analog hardware), or, for spaces
that build their networks (OFA), what :meth:`SearchSpace.measure` returns (``latency_ms``,
``cpu_ms``, ``params_m``, ``flops_m``), measured as the build needs it (core.building.builder). The build keeps
only architectures that satisfy every constraint, so "the best cora GNN under 4 ms" is one build.
Parsed by a regular expression, never ``eval``.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from core.errors import InputError, shorten

#: Comparison text -> function on arrays.
COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}

_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``column op bound``, e.g. Constraint("latency", "<=", 0.004)."""

    column: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.op not in COMPARISONS:
            raise ValueError(f"comparison must be one of {list(COMPARISONS)}, not {self.op!r}")

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.bound:g}"

    def holds(self, values: np.ndarray) -> np.ndarray:
        """[A] bool: which values satisfy the constraint (NaN never does)."""
        values = np.asarray(values, dtype=np.float64)
        return COMPARISONS[self.op](values, self.bound) & np.isfinite(values)


def parse_constraint(text: str) -> Constraint:
    """``"latency <= 0.004"`` -> Constraint; a one-line InputError for anything else."""
    match = _PATTERN.match(str(text))
    if match is None:
        raise InputError(f"constraint {shorten(text)} is not 'column <= number' (or <, >=, >), e.g. 'latency <= 0.004'")
    return Constraint(match[1], match[2], float(match[3]))


def parse_constraints(texts: Sequence[str] | str) -> tuple[Constraint, ...]:
    """Several constraints, as a list or one comma-separated string (empty parts are ignored)."""
    parts = texts.split(",") if isinstance(texts, str) else [p for text in texts for p in str(text).split(",")]
    return tuple(parse_constraint(p) for p in parts if p.strip())


def satisfied(constraints: Sequence[Constraint], specs: Sequence[str], table: pd.DataFrame | None,
              source: str) -> np.ndarray:
    """[A] bool: which ``specs`` satisfy every constraint, by the metric columns of ``table`` (indexed by
    spec; a spec missing from it does not). ``source`` names the table in errors."""
    mask = np.ones(len(specs), dtype=bool)
    if not constraints:
        return mask
    if table is None:
        raise InputError(f"constraints ({', '.join(map(str, constraints))}) need a look-up table of metrics, "
                         f"and {source} ships none")
    for constraint in constraints:
        if constraint.column not in table.columns:
            metrics = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
            raise InputError(f"constraint column {shorten(constraint.column)} is not in {source}; its metrics are {metrics}")
        values = table[constraint.column].reindex(specs).to_numpy(dtype=np.float64)
        mask &= constraint.holds(values)
    return mask
