"""JSON written by users (spec strings, table rows, a run's config.json), parsed within bounds.

Python's :func:`json.loads` recurses once per nesting level, so ten thousand ``[`` end in a
``RecursionError`` (a traceback, not a one-line error), and a huge text is parsed in full before any
check runs. :func:`load_json` first checks the length and the nesting depth of the text, with a
linear scan that skips string contents, and only then parses it; every failure is one
:class:`JsonInputError` line ("malformed JSON (...)", "nested deeper than 64 levels", ...) that the
caller prefixes with the file, row or spec it came from.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.errors import InputError
from core.files.bounded_read import read_regular

#: Deepest nesting accepted: real specs and configs nest 2-4 levels; 64 leaves room and is far below
#: the interpreter's recursion limit (about 1,000 frames).
MAX_DEPTH = 64

#: Longest JSON text accepted by default (one spec, one config); tables pass their own, larger limit.
MAX_CHARS = 1_000_000

#: A JSON string (with escapes), whose brackets must not count towards the depth.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


class JsonInputError(InputError):
    """User JSON that is malformed, too long or nested too deeply (message: what, without where)."""


def json_depth(text: str | bytes) -> int:
    """The deepest ``[``/``{`` nesting of ``text`` outside strings (an over-estimate for broken JSON)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    stripped = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    steps = np.isin(stripped, _OPEN).astype(np.int64) - np.isin(stripped, _CLOSE).astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def load_json(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_chars: int = MAX_CHARS,
              object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """``json.loads(text)`` after checking its length and nesting depth; :class:`JsonInputError` otherwise.

    ``object_pairs_hook`` is passed on (e.g. to refuse repeated keys); an :class:`InputError` it raises
    passes through unchanged.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise JsonInputError(f"not UTF-8 text (byte {err.start})") from None
    if not isinstance(text, str):
        raise JsonInputError(f"expected JSON text, not {type(text).__name__}")
    if len(text) > max_chars:
        raise JsonInputError(f"JSON text of {len(text):,} characters is over the limit of {max_chars:,}")
    depth = json_depth(text)
    if depth > max_depth:
        raise JsonInputError(f"JSON nested {depth} levels deep; the limit is {max_depth}")
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as err:
        raise JsonInputError(f"malformed JSON ({err.msg} at char {err.pos})") from None
    except RecursionError:  # unreachable after the depth check; kept so it can never become a traceback
        raise JsonInputError(f"JSON nested more than {max_depth} levels deep") from None
    except (ValueError, TypeError) as err:  # e.g. lone surrogates, huge integer literals
        raise JsonInputError(f"malformed JSON ({str(err).splitlines()[0][:120]})") from None


def load_json_file(path: str | Path, *, max_bytes: int = MAX_CHARS, what: str = "JSON") -> Any:
    """A JSON file a user may have edited (a run's or campaign's config, a model directory's config),
    size-checked before it is read and parsed by :func:`load_json`. Every failure is one
    :class:`~core.errors.InputError` line that names the file."""
    path = Path(path)
    data = read_regular(path, max_bytes=max_bytes, what=what)
    try:
        return load_json(data, max_chars=max_bytes)
    except JsonInputError as err:
        raise InputError(f"{path}: {err}") from None


def load_json_object(path: str | Path, *, max_bytes: int = MAX_CHARS, what: str = "settings") -> dict[str, Any]:
    """:func:`load_json_file` of a file that must hold one JSON object (of ``what``)."""
    data = load_json_file(path, max_bytes=max_bytes, what=what)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of {what}, got a JSON {type(data).__name__}")
    return data


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook`` for :func:`load_json`: a key given twice in one object is an error
    (plain ``json.loads`` silently keeps the last value)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise JsonInputError(f"key {key!r} appears twice in one object")
        obj[key] = value
    return obj
