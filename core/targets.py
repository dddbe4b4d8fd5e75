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
calls of ``log``, ``log10``, ``exp``, ``sqrt`` and ``abs``. The tree is then evaluated by this module
with numpy. Column names that are not Python identifiers are written in backticks, as in pandas'
``query``: ```top-1 acc` / 100``.

Example (accuracy in percent, latency in ms)::

    target = parse_target("100**(acc/100) / log10(latency)", df.columns)   # target.columns == ("acc", "latency")
    result = evaluate_target(df, target)   # result.values: finite targets; result.summary(): what was dropped
"""
from __future__ import annotations

import ast
import difflib
import keyword
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from core.errors import TargetError

#: Longest accepted expression; real targets are a few dozen characters.
MAX_LENGTH = 500
#: Deepest accepted syntax tree; bounds the recursive evaluator and rejects pathological nesting.
MAX_DEPTH = 32

#: Operators of one precedence level (left-associative chains of them count as one nesting level).
_LEVEL = {ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product"}

#: The functions a target may call, each with exactly one argument.
FUNCTIONS = {
    "log": np.log,
    "log10": np.log10,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
}

_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}

#: The paper's two targets, with ``{acc}`` standing for a table's accuracy column and ``{latency_ms}``
#: for its latency in milliseconds (the column, converted from its unit by :func:`preset_expression`).
PRESETS = {
    "100**acc": "100**{acc}",
    "100**acc / log10(latency)": "100**{acc} / log10({latency_ms})",
}

#: Latency units a preset converts from, with the factor that turns them into milliseconds.
LATENCY_UNITS = {"s": 1000.0, "ms": 1.0, "us": 0.001}

#: Column-name endings that state a latency unit (``latency_ms``, ``cpu_s``, ``gpu_us``).
_UNIT_SUFFIXES = (("_ms", "ms"), ("_us", "us"), ("_s", "s"), ("_sec", "s"))

_BACKTICK = re.compile(r"`([^`]*)`")


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
        tree, names, used = _parse(self.expression, [str(c) for c in df.columns])
        arrays = {col: _column_values(df, col) for col in used}
        # Overflow, log(0), division by zero and sqrt(-1) are expected on real tables; they yield
        # inf/NaN, which evaluate_target reports as excluded rows instead of a console warning.
        with np.errstate(all="ignore"):
            result = _Evaluator(self.expression, names, arrays).visit(tree.body)
        values = np.broadcast_to(np.asarray(result, dtype=np.float64), (len(df),)).copy()
        return pd.Series(values, index=df.index, dtype=np.float64, name=self.expression)


@dataclass
class TargetValues:
    """The target of a table with the unusable rows taken out.

    Attributes:
        values: float64 target of the kept rows, in table order.
        kept: boolean mask over all rows; True where the target is finite.
        excluded_rows: 0-based positions of the rows whose target is NaN or infinite.
    """

    values: np.ndarray
    kept: np.ndarray
    excluded_rows: list[int]

    def summary(self, max_rows: int = 20) -> str:
        """One line for the user. Rows are numbered from 1, like the data rows in table errors."""
        n = len(self.excluded_rows)
        if n == 0:
            return f"no rows excluded: the target is finite in all {len(self.kept)} rows"
        shown = ", ".join(str(i + 1) for i in self.excluded_rows[:max_rows])
        more = f" and {n - max_rows} more" if n > max_rows else ""
        rows = "row" if n == 1 else "rows"
        return f"{n} {rows} excluded because the target is NaN or infinite: {rows} {shown}{more}"


def parse_target(expression: str, columns: Sequence[str]) -> Target:
    """Validate ``expression`` against the available ``columns``; raise :class:`TargetError` if unsafe or wrong."""
    _, _, used = _parse(expression, [str(c) for c in columns])
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
        latency = _quote(latency_column)
        if factor > 1:
            latency = f"{factor:g}*{latency}"
        elif factor < 1:
            latency = f"{latency}/{1 / factor:g}"
    return template.format(acc=_quote(acc_column), latency_ms=latency)


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
    tree, names, used = _parse(target.expression, [str(c) for c in df.columns])
    text, quoted = _replace_backticks(target.expression, [str(c) for c in df.columns])
    arrays = {col: _column_values(df, col) for col in used}
    evaluator = _Evaluator(target.expression, names, arrays)
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
        shown = _source(text, node.right, quoted)
        where = (f"the divisor {shown} (column{'s' if len(columns) > 1 else ''} "
                 f"{', '.join(repr(c) for c in columns)}) ranges {low:.4g} .. {high:.4g}")
        if low <= 0 <= high:
            warnings.append(f"target {_shown(target.expression)}: {where}, crossing zero over the table: "
                            "rows near zero get huge targets of either sign")
        elif high < 0:
            hint = (" (a log of latency in seconds? the paper's latency is in milliseconds)"
                    if any(isinstance(n, ast.Call) and n.func.id in ("log", "log10")  # type: ignore[attr-defined]
                           for n in ast.walk(node.right)) else "")
            warnings.append(f"target {_shown(target.expression)}: {where}, negative in every row, so a larger "
                            f"numerator gives a lower target and the ranking is reversed{hint}")
    return warnings


def evaluate_target(df: pd.DataFrame, target: Target | str) -> TargetValues:
    """Evaluate ``target`` on ``df`` and split off the rows where it is NaN or infinite.

    Raises :class:`TargetError` when no row is left, since nothing could be learned from the table.
    """
    if isinstance(target, str):
        target = parse_target(target, [str(c) for c in df.columns])
    series = target.evaluate(df)
    values = series.to_numpy(dtype=np.float64)
    kept = np.isfinite(values)
    if len(values) and not kept.any():
        raise TargetError(
            f"target {_shown(target.expression)}: NaN or infinite in every row "
            "(check the units: the presets expect accuracy as a fraction, e.g. 100**(acc/100) for percent)"
        )
    return TargetValues(values=values[kept], kept=kept, excluded_rows=np.flatnonzero(~kept).tolist())


# --------------------------------------------------------------------------- parsing

def _parse(expression: str, columns: list[str]) -> tuple[ast.Expression, dict[str, str], tuple[str, ...]]:
    """Parse and whitelist-check ``expression``.

    Returns the tree, the identifier -> column map of its names and the columns used in source order.
    Backtick-quoted column names are swapped for placeholder identifiers before parsing, so the tree
    only ever contains plain names.
    """
    if not isinstance(expression, str):
        raise TargetError(f"a target must be text, not {type(expression).__name__}")
    if not expression.strip():
        raise TargetError("the target expression is empty")
    if len(expression) > MAX_LENGTH:
        raise TargetError(f"target is {len(expression)} characters long; the limit is {MAX_LENGTH}")
    text, quoted = _replace_backticks(expression, columns)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        hint = ("; write column names with spaces or symbols in backticks"
                if any(not c.isidentifier() for c in columns) else "")
        raise TargetError(f"target {_shown(expression)}: not a valid expression ({e.msg}){hint}") from None
    except (ValueError, RecursionError, MemoryError):
        # Null bytes and absurd nesting can fail inside the parser itself.
        raise TargetError(f"target {_shown(expression)}: not a valid expression") from None
    checker = _Checker(expression, text, columns, quoted)
    checker.visit_expr(tree.body, depth=1)
    if not checker.used:
        raise checker.fail(f"uses no column; a target must depend on at least one of {columns}")
    return tree, checker.names, tuple(dict.fromkeys(checker.used))


def _replace_backticks(expression: str, columns: list[str]) -> tuple[str, dict[str, str]]:
    """Swap `` `column name` `` for a fresh identifier; return the new text and placeholder -> column.

    The placeholder prefix does not occur anywhere in the expression, so it cannot clash with a name
    the user wrote; spaces around it keep ``2`a``` a syntax error instead of a new identifier.
    """
    if expression.count("`") % 2:
        raise TargetError(f"target {_shown(expression)}: unmatched backtick")
    prefix = "_col"
    while prefix in expression:
        prefix += "_"
    quoted: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        column = match.group(1)
        if column not in columns:
            raise TargetError(_unknown_name(expression, column, columns))
        placeholder = f"{prefix}{len(quoted)}"
        quoted[placeholder] = column
        return f" {placeholder} "

    return _BACKTICK.sub(swap, expression).strip(), quoted


class _Checker:
    """Walks a parsed target and raises on anything outside the whitelist, naming the token."""

    def __init__(self, expression: str, text: str, columns: list[str], quoted: dict[str, str]) -> None:
        self.expression = expression
        self.text = text
        self.columns = columns
        self.placeholders = quoted
        self.names = dict(quoted)  # identifier -> column, grows as plain column names are met
        self.used: list[str] = []  # columns in source order (the walk goes left to right)

    def fail(self, why: str) -> TargetError:
        return TargetError(f"target {_shown(self.expression)}: {why}")

    def token(self, node: ast.AST) -> str:
        """The source text of ``node``, with backtick placeholders turned back into `` `name` ``."""
        segment = ast.get_source_segment(self.text, node) or type(node).__name__
        for placeholder, column in self.placeholders.items():
            segment = segment.replace(placeholder, f"`{column}`")
        return repr(segment if len(segment) <= 60 else segment[:57] + "...")

    def visit_expr(self, node: ast.AST, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            self.check_constant(node)
        elif isinstance(node, ast.Name):
            self.check_name(node)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise self.fail(f"operator {_OP_TEXT.get(type(node.op), type(node.op).__name__)!r} is not allowed; "
                                "use + - * / **")
            # A flat chain such as a + b + c + d is a left-leaning tree as deep as it has terms, but it
            # nests nothing: the left operand of the same kind of operator stays at the same depth.
            chained = isinstance(node.left, ast.BinOp) and _LEVEL.get(type(node.left.op)) == _LEVEL.get(type(node.op))
            self.visit_expr(node.left, depth if chained else depth + 1)
            self.visit_expr(node.right, depth + 1)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise self.fail(f"operator {_OP_TEXT.get(type(node.op), type(node.op).__name__)!r} is not allowed")
            self.visit_expr(node.operand, depth + 1)
        elif isinstance(node, ast.Call):
            self.check_call(node, depth)
        else:
            raise self.fail(self.refusal(node))

    def check_constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, (str, bytes)):
            raise self.fail(f"strings are not allowed ({self.token(node)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"only real numbers are allowed ({self.token(node)})")
        try:
            float(value)
        except OverflowError:
            raise self.fail(f"number {self.token(node)} is too large") from None

    def check_name(self, node: ast.Name) -> None:
        if node.id in self.placeholders or node.id in self.columns:
            self.names.setdefault(node.id, node.id)
            self.used.append(self.names[node.id])
            return
        if node.id in FUNCTIONS:
            raise self.fail(f"{node.id!r} is a function; call it as {node.id}(...)")
        raise TargetError(_unknown_name(self.expression, node.id, self.columns))

    def check_call(self, node: ast.Call, depth: int) -> None:
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"only calls of {', '.join(FUNCTIONS)} are allowed ({self.token(node.func)})")
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function {self.token(node.func)}; allowed are {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise self.fail(f"keyword arguments are not allowed ({self.token(node.keywords[0])})")
        if len(node.args) != 1:
            raise self.fail(f"{name}() takes one argument, got {len(node.args)}")
        self.visit_expr(node.args[0], depth + 1)

    def refusal(self, node: ast.AST) -> str:
        """Why ``node`` is refused, in the user's words rather than AST class names."""
        if isinstance(node, ast.Attribute):
            return f"attributes are not allowed ('.{node.attr}')"
        if isinstance(node, ast.Subscript):
            return f"indexing is not allowed ({self.token(node)})"
        if isinstance(node, ast.Lambda):
            return f"lambdas are not allowed ({self.token(node)})"
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return f"comprehensions are not allowed ({self.token(node)})"
        if isinstance(node, ast.JoinedStr):
            return f"strings are not allowed ({self.token(node)})"
        if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
            return f"lists, tuples, sets and dicts are not allowed ({self.token(node)})"
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.IfExp)):
            return f"comparisons and conditions are not allowed ({self.token(node)})"
        if isinstance(node, ast.NamedExpr):
            return f"assignments are not allowed ({self.token(node)})"
        return f"{self.token(node)} is not allowed"


_OP_TEXT = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.Not: "not", ast.Invert: "~",
}


# ------------------------------------------------------------------------ evaluation

class _Evaluator:
    """Computes an already checked tree with numpy arrays; constants become float64 at once.

    Converting constants to float64 matters: Python ints would make ``10**10**10`` an exact,
    effectively endless big-integer computation, while float64 simply overflows to inf.
    """

    def __init__(self, expression: str, names: dict[str, str], arrays: dict[str, np.ndarray]) -> None:
        self.expression = expression
        self.names = names
        self.arrays = arrays

    def visit(self, node: ast.AST) -> np.ndarray | np.float64:
        if isinstance(node, ast.Constant):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return self.arrays[self.names[node.id]]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.visit(node.operand))
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](self.visit(node.args[0]))  # type: ignore[attr-defined]
        # Unreachable after _Checker; kept so a checker gap can never fall through silently.
        raise TargetError(f"target {_shown(self.expression)}: {type(node).__name__} is not allowed")


def _column_values(df: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64; a non-numeric value is an input error naming the row and value."""
    # By position: a frame may have non-string or repeated labels; the first match wins.
    series = df.iloc[:, [str(c) for c in df.columns].index(column)]
    try:
        return pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        numeric = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(numeric.isna().to_numpy() & series.notna().to_numpy())
        where = f" (row {bad[0] + 1}: {series.iloc[bad[0]]!r})" if len(bad) else ""
        raise TargetError(f"column {column!r} is not numeric{where}") from None


# --------------------------------------------------------------------------- helpers

def _unknown_name(expression: str, name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"target {_shown(expression)}: unknown name {name!r}{hint}; columns are {columns}"


def _source(text: str, node: ast.AST, quoted: dict[str, str]) -> str:
    """The source of ``node`` in the placeholder text, with backticked column names put back."""
    segment = ast.get_source_segment(text, node) or type(node).__name__
    for placeholder, column in quoted.items():
        segment = segment.replace(placeholder, f"`{column}`")
    return repr(segment.strip())


def _quote(column: str) -> str:
    """A column name as it must appear in an expression: bare if an identifier, else in backticks."""
    if column.isidentifier() and not keyword.iskeyword(column) and column not in FUNCTIONS:
        return column
    if "`" in column:
        raise TargetError(f"column {column!r} contains a backtick and cannot be used in a target")
    return f"`{column}`"


def _shown(expression: str) -> str:
    """The expression for an error message: quoted, and cut short when long."""
    return repr(expression if len(expression) <= 80 else expression[:77] + "...")
