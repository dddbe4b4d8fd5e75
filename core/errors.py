"""Errors that mean "the user's input is wrong", as opposed to a bug.

Every entry point (CLI, dashboard) catches :class:`InputError` and shows its message as one line
(exit code 2 in the CLI, ``st.error`` in the dashboard). Anything else is a bug: it is logged with its
traceback and reported as an internal error, never blamed on the user. :class:`InputError` therefore
deliberately does *not* subclass :class:`ValueError`: a ``ValueError`` from numpy or a slip in the
code must not pass for bad input.

Every message is one line of at most :data:`MAX_MESSAGE_CHARS` characters: :class:`InputError` folds
line breaks and cuts what it is given (:func:`message_line`), and :func:`shorten` / :func:`shorten_list`
cut a long value or a long list of names where a message quotes it, saying how long it was, so a
20 MB column name or a 120,000-character option cannot become a 20 MB error line.
"""
from __future__ import annotations

import re
from typing import Iterable

#: Longest error message shown (CLI stderr line, dashboard ``st.error``): room for a table's two or three
#: problems by row, each value in it cut by :func:`shorten`.
MAX_MESSAGE_CHARS = 400
#: Longest value quoted whole inside a message.
MAX_VALUE_CHARS = 60
#: Most names listed inside a message ("columns are [...]").
MAX_LISTED = 8

_BREAKS = re.compile(r"\s*[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+\s*")


def shorten(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters with the full length said."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(value) if isinstance(value, str) else text
    cut = text[:max(limit - 3, 1)]
    return f"{cut!r}... ({len(text):,} characters)" if isinstance(value, str) else f"{cut}... ({len(text):,} characters)"


def shorten_list(names: Iterable[object], limit: int = MAX_LISTED, each: int = 40) -> str:
    """A list of names for a message: at most ``limit`` of them, each cut by :func:`shorten`."""
    items = list(names)
    shown = ", ".join(shorten(str(n), each) for n in items[:limit])
    more = f", ... ({len(items) - limit:,} more)" if len(items) > limit else ""
    return f"[{shown}{more}]"


def message_line(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` as one line of at most about ``limit`` characters (line breaks folded to " / ";
    a longer text keeps its start, which names the file, row or column, and says its length)."""
    line = _BREAKS.sub(" / ", str(text).strip())
    if len(line) <= limit:
        return line
    return f"{line[:limit - 40].rstrip()}... (message cut, {len(line):,} characters)"


class InputError(Exception):
    """Bad user input: a file, row, column, spec string, option or expression.

    The message must name what is wrong and where; it is kept to one short line (:func:`message_line`).
    """

    def __init__(self, *args: object) -> None:
        if len(args) == 1:
            args = (message_line(args[0]),)
        super().__init__(*args)


class SpecError(InputError):
    """An architecture spec string that the space cannot parse or validate."""


class TableError(InputError):
    """A table that cannot be read or fails validation."""


class TargetError(InputError):
    """A target expression that is unsafe, malformed or names unknown columns."""


class ConfigError(InputError):
    """A typed config (or a run's config.json) with a missing, unknown or out-of-range setting."""


class Cancelled(Exception):
    """Long work stopped on request before it finished (the caller's ``should_stop`` turned true).

    Raised between chunks by core functions that take ``should_stop`` (and a ``progress`` callback may
    raise it to stop a core function that has none); the function leaves no half-written output behind.
    Not an :class:`InputError`: nothing is wrong with the input.
    """
