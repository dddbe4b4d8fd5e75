"""Errors that mean "the user's input is wrong", as opposed to a bug.

Every entry point (CLI, dashboard) catches :class:`InputError` and shows its message as one line
(exit code 2 in the CLI, ``st.error`` in the dashboard). Anything else is a bug: it is logged with its
traceback and reported as an internal error, never blamed on the user. :class:`InputError` therefore
deliberately does *not* subclass :class:`ValueError`: a ``ValueError`` from numpy or a slip in the
code must not pass for bad input.
"""


class InputError(Exception):
    """Bad user input: a file, row, column, spec string, option or expression.

    The message must be one line and name what is wrong and where.
    """


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
