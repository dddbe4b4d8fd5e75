"""Target expressions: the whitelist parser and the numpy evaluator (never Python's ``eval``).

:func:`parse` reads the text with :func:`ast.parse` and accepts only numbers, column names,
``+ - * / **``, unary ``-``/``+``, parentheses and one-argument calls of :data:`FUNCTIONS`; anything else is
one :class:`~core.errors.TargetError` naming the token. Column names that are not identifiers are
written in backticks. :class:`ArrayCalculator` then computes the checked tree with numpy arrays. What a target
means (presets, units, warnings) is :mod:`core.targets.target`.
"""
from __future__ import annotations

import ast
import difflib
import keyword
import re

import numpy as np
import pandas as pd

from core.errors import TargetError, shorten, shorten_list

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

_BACKTICK = re.compile(r"`([^`]*)`")


# --------------------------------------------------------------------------- parsing

def parse(expression: str, columns: list[str]) -> tuple[ast.Expression, dict[str, str], tuple[str, ...]]:
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
    text, quoted = replace_backticks(expression, columns)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        hint = ("; write column names with spaces or symbols in backticks"
                if any(not c.isidentifier() for c in columns) else "")
        raise TargetError(f"target {shown(expression)}: not a valid expression ({e.msg}){hint}") from None
    except (ValueError, RecursionError, MemoryError):
        # Null bytes and absurd nesting can fail inside the parser itself.
        raise TargetError(f"target {shown(expression)}: not a valid expression") from None
    checker = _Checker(expression, text, columns, quoted)
    checker.visit_expr(tree.body, depth=1)
    if not checker.used:
        raise checker.fail(f"uses no column; a target must depend on at least one of {columns}")
    return tree, checker.names, tuple(dict.fromkeys(checker.used))


def replace_backticks(expression: str, columns: list[str]) -> tuple[str, dict[str, str]]:
    """Swap `` `column name` `` for a fresh identifier; return the new text and placeholder -> column.

    The placeholder prefix does not occur anywhere in the expression, so it cannot clash with a name
    the user wrote; spaces around it keep ``2`a``` a syntax error instead of a new identifier.
    """
    if expression.count("`") % 2:
        raise TargetError(f"target {shown(expression)}: unmatched backtick")
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
        return TargetError(f"target {shown(self.expression)}: {why}")

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

class ArrayCalculator:
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
        raise TargetError(f"target {shown(self.expression)}: {type(node).__name__} is not allowed")


def column_values(df: pd.DataFrame, column: str) -> np.ndarray:
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
    hint = f" (did you mean {shorten(close[0])}?)" if close else ""
    return f"target {shown(expression)}: unknown name {shorten(name)}{hint}; columns are {shorten_list(columns)}"


def source_text(text: str, node: ast.AST, quoted: dict[str, str]) -> str:
    """The source of ``node`` in the placeholder text, with backticked column names put back."""
    segment = ast.get_source_segment(text, node) or type(node).__name__
    for placeholder, column in quoted.items():
        segment = segment.replace(placeholder, f"`{column}`")
    return repr(segment.strip())


def quote_column(column: str) -> str:
    """A column name as it must appear in an expression: bare if an identifier, else in backticks."""
    if column.isidentifier() and not keyword.iskeyword(column) and column not in FUNCTIONS:
        return column
    if "`" in column:
        raise TargetError(f"column {column!r} contains a backtick and cannot be used in a target")
    return f"`{column}`"


def shown(expression: str) -> str:
    """The expression for an error message: quoted, and cut short when long."""
    return repr(expression if len(expression) <= 80 else expression[:77] + "...")
