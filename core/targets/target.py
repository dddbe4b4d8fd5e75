"""Target expressions: what the predictor learns to rank, written over a table's metric columns.

AutoBuild regresses a scalar *target* per architecture, which is usually a formula over measured
metrics rather than one raw column. The paper uses two:

* ``100**acc``: stretches the top of the accuracy range so the ranking loss cares most about the
  best architectures. ``acc`` is expected as a **fraction** in [0, 1]. With accuracies in percent,
  write ``100**(acc/100)``: ``100**acc`` would then span up to 1e200 (and overflow to infinity past
  acc = 154), which swamps every other architecture. Rows whose target is NaN or infinite are not
  silently dropped: :func:`evaluate_target` lists them.
* ``100**acc / log10(latency)``: the same, traded off against latency **in milliseconds**, the
  paper's unit. The unit matters: with latency in seconds (NAS-Bench-Graph's column, all < 1 s)
  log10 is negative in every row, so dividing by it turns the ranking upside down (the best
  architectures get the lowest targets; Spearman with accuracy -0.85 on the bundled cora table).
  :func:`preset_expression` therefore takes the column's unit and writes the conversion to
  milliseconds into the expression, and :func:`target_warnings` flags any target whose divisor is
  negative in every row or crosses zero over a table.

Users type these expressions (CLI ``--target``, dashboard text box), so they are never handed to
Python's ``eval``. :func:`parse_target` parses the text with :func:`ast.parse` and accepts only an
explicit whitelist: numbers, column names, ``+ - * / **``, unary ``-``/``+``, parentheses and one-argument
calls of ``log``, ``log10``, ``exp``, ``sqrt`` and ``abs`` (:mod:`core.targets.expression`). The tree is then evaluated
with numpy. Column names that are not Python identifiers are written in backticks, as in pandas'
``query``: ```top-1 acc` / 100``.

Example (accuracy in percent, latency in ms)::

    target = parse_target("100**(acc/100) / log10(latency)", df.columns)   # target.columns == ("acc", "latency")
    result = evaluate_target(df, target)   # result.values: finite targets; result.summary(): what was dropped
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from core.errors import TargetError
from core.targets.expression import (
    ArrayCalculator,
    column_values,
    parse,
    quote_column,
    replace_backticks,
    shown,
    source_text,
)

#: The paper's two targets, with ``{acc}`` standing for a table's accuracy column and ``{latency_ms}``
#: for its latency in milliseconds (the column, converted from its unit by :func:`preset_expression`).
PRESETS = {
    "100**acc": "100**{acc}",
    "100**acc / log10(latency)": "100**{acc} / log10({latency_ms})",
}

#: The largest target magnitude a row may have. Training standardises the target (mean, then the
#: standard deviation of the squared deviations): beyond about 1e154 a square overflows float64, the
#: std becomes infinite and every prediction NaN, so one such row would ruin a whole training table.
#: 1e150 leaves room for sums over a million rows; a real target is nowhere near it.
TARGET_LIMIT = 1e150

#: Latency units a preset converts from, with the factor that turns them into milliseconds.
LATENCY_UNITS = {"s": 1000.0, "ms": 1.0, "us": 0.001}

#: Column-name endings that state a latency unit (``latency_ms``, ``cpu_s``, ``gpu_us``).
_UNIT_SUFFIXES = (("_ms", "ms"), ("_us", "us"), ("_s", "s"), ("_sec", "s"))


@dataclass(frozen=True)
class Target:
    """A validated target expression and the columns it reads (in order of first use)."""

    expression: str
    columns: tuple[str, ...]

    def evaluate(self, df: pd.DataFrame) -> pd.Series:
        """The target for every row of ``df`` as float64 (NaN/inf where the formula breaks down).

        The expression is re-validated against ``df``'s columns, so a Target built by hand cannot
        smuggle anything past the whitelist.
        """
        tree, names, used = parse(self.expression, [str(c) for c in df.columns])
        arrays = {col: column_values(df, col) for col in used}
        # Overflow, log(0), division by zero and sqrt(-1) are expected on real tables; they yield
        # inf/NaN, which evaluate_target reports as excluded rows instead of a console warning.
        with np.errstate(all="ignore"):
            result = ArrayCalculator(self.expression, names, arrays).visit(tree.body)
        values = np.broadcast_to(np.asarray(result, dtype=np.float64), (len(df),)).copy()
        return pd.Series(values, index=df.index, dtype=np.float64, name=self.expression)


@dataclass
class TargetValues:
    """The target of a table with the unusable rows taken out.

    Attributes:
        values: float64 target of the kept rows, in table order.
        kept: boolean mask over all rows; True where the target is finite.
        excluded_rows: 0-based positions of the rows whose target is NaN, infinite or beyond
            ±TARGET_LIMIT.
        huge_rows: those of them whose target is finite but beyond ±TARGET_LIMIT.
    """

    values: np.ndarray
    kept: np.ndarray
    excluded_rows: list[int]
    huge_rows: list[int] = field(default_factory=list)

    def summary(self, max_rows: int = 20) -> str:
        """One line for the user. Rows are numbered from 1, like the data rows in table errors."""
        n = len(self.excluded_rows)
        if n == 0:
            return f"no rows excluded: the target is finite in all {len(self.kept)} rows"
        shown = ", ".join(str(i + 1) for i in self.excluded_rows[:max_rows])
        more = f" and {n - max_rows} more" if n > max_rows else ""
        rows = "row" if n == 1 else "rows"
        why = f"NaN, infinite or beyond ±{TARGET_LIMIT:g}" if self.huge_rows else "NaN or infinite"
        return f"{n} {rows} excluded because the target is {why}: {rows} {shown}{more}"


def parse_target(expression: str, columns: Sequence[str]) -> Target:
    """Validate ``expression`` against the available ``columns``; raise :class:`TargetError` if unsafe or wrong."""
    _, _, used = parse(expression, [str(c) for c in columns])
    return Target(expression=expression, columns=used)


def preset_expression(preset: str, acc_column: str, latency_column: str | None = None,
                      latency_unit: str | None = None) -> str:
    """The expression of one of :data:`PRESETS` written with a table's column names.

    ``preset_expression("100**acc", "valid_acc")`` gives ``"100**valid_acc"``; names that are not
    identifiers are backtick-quoted. The presets expect accuracy as a fraction in [0, 1].

    The latency preset needs ``latency_unit`` (one of :data:`LATENCY_UNITS`), because it means
    log10 of *milliseconds*, as in the paper: log10 is positive and grows with latency there for
    anything slower than 1 ms. A column's unit is not in its numbers, so it is never guessed from
    them: the caller says it (see :func:`latency_unit` for what a name or space states), and
    seconds become ``log10(1000*latency)`` rather than a silently inverted ``log10(latency)``.
    """
    if preset not in PRESETS:
        raise TargetError(f"unknown target preset {preset!r}; choose one of {list(PRESETS)}")
    template = PRESETS[preset]
    latency = ""
    if "{latency_ms}" in template:
        if latency_column is None:
            raise TargetError(f"target preset {preset!r} needs a latency column")
        if latency_unit not in LATENCY_UNITS:
            raise TargetError(f"target preset {preset!r} needs the unit of latency column {latency_column!r}: "
                              f"one of {', '.join(LATENCY_UNITS)}, not {latency_unit!r}")
        factor = LATENCY_UNITS[latency_unit]
        latency = quote_column(latency_column)
        if factor > 1:
            latency = f"{factor:g}*{latency}"
        elif factor < 1:
            latency = f"{latency}/{1 / factor:g}"
    return template.format(acc=quote_column(acc_column), latency_ms=latency)


def latency_unit(column: str, space: object | None = None) -> str | None:
    """The unit of a latency ``column`` where something states it, else None.

    Read from the name's ending (``latency_ms``, ``cpu_s``, ``gpu_us``), else from the space's
    declared ``metric_units`` (NAS-Bench-Graph's ``latency`` is in seconds). Never from the values:
    0.004 may be seconds or milliseconds, and guessing wrong inverts the latency preset.
    """
    lowered = column.lower()
    for suffix, unit in _UNIT_SUFFIXES:
        if lowered.endswith(suffix):
            return unit
    unit = dict(getattr(space, "metric_units", None) or {}).get(column)
    return unit if unit in LATENCY_UNITS else None


def target_warnings(df: pd.DataFrame, target: Target | str) -> list[str]:
    """Plain warnings about a valid target on ``df``: divisors that invert or break the ranking.

    A target ``a / d`` ranks architectures by ``a`` only while ``d`` is positive. Where ``d`` is
    negative in every row (log10 of latencies below 1, e.g. seconds where the formula meant
    milliseconds) higher ``a`` gives a *lower* target, so the predictor learns the ranking upside
    down; where ``d`` crosses or touches zero the rows near zero get huge targets of either sign. Both
    evaluate without error, so they are reported rather than refused; each warning names the
    divisor, its columns and its range over the table.
    """
    if isinstance(target, str):
        target = parse_target(target, [str(c) for c in df.columns])
    tree, names, used = parse(target.expression, [str(c) for c in df.columns])
    text, quoted = replace_backticks(target.expression, [str(c) for c in df.columns])
    arrays = {col: column_values(df, col) for col in used}
    evaluator = ArrayCalculator(target.expression, names, arrays)
    warnings: list[str] = []
    for node in ast.walk(tree.body):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
            continue
        functions = {id(n.func) for n in ast.walk(node.right) if isinstance(n, ast.Call)}
        columns = list(dict.fromkeys(names[n.id] for n in ast.walk(node.right)
                                     if isinstance(n, ast.Name) and id(n) not in functions))
        if not columns:
            continue  # a constant divisor (acc/100) cannot change sign
        with np.errstate(all="ignore"):
            divisor = np.broadcast_to(np.asarray(evaluator.visit(node.right), dtype=np.float64), (len(df),))
        finite = divisor[np.isfinite(divisor)]
        if finite.size == 0:
            continue
        low, high = float(finite.min()), float(finite.max())
        divisor_text = source_text(text, node.right, quoted)
        where = (f"the divisor {divisor_text} (column{'s' if len(columns) > 1 else ''} "
                 f"{', '.join(repr(c) for c in columns)}) ranges {low:.4g} .. {high:.4g}")
        if low <= 0 <= high:
            warnings.append(f"target {shown(target.expression)}: {where}, crossing zero over the table: "
                            "rows near zero get huge targets of either sign")
        elif high < 0:
            hint = (" (a log of latency in seconds? the paper's latency is in milliseconds)"
                    if any(isinstance(n, ast.Call) and n.func.id in ("log", "log10")  # type: ignore[attr-defined]
                           for n in ast.walk(node.right)) else "")
            warnings.append(f"target {shown(target.expression)}: {where}, negative in every row, so a larger "
                            f"numerator gives a lower target and the ranking is reversed{hint}")
    return warnings


def evaluate_target(df: pd.DataFrame, target: Target | str) -> TargetValues:
    """Evaluate ``target`` on ``df`` and split off the rows where it is NaN, infinite or beyond
    ±:data:`TARGET_LIMIT` (finite, but too large to train on; such rows count as infinite).

    Raises :class:`TargetError` when no row is left, since nothing could be learned from the table.
    """
    if isinstance(target, str):
        target = parse_target(target, [str(c) for c in df.columns])
    series = target.evaluate(df)
    values = series.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        kept = np.isfinite(values) & (np.abs(values) <= TARGET_LIMIT)
    if len(values) and not kept.any():
        raise TargetError(
            f"target {shown(target.expression)}: NaN or infinite in every row "
            "(check the units: the presets expect accuracy as a fraction, e.g. 100**(acc/100) for percent)"
        )
    huge = np.flatnonzero(np.isfinite(values) & ~kept).tolist()
    return TargetValues(values=values[kept], kept=kept, excluded_rows=np.flatnonzero(~kept).tolist(), huge_rows=huge)
