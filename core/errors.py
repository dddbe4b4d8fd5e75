"""Errors that mean "the user's input is wrong", as opposed to a bug.

Every entry point (CLI, dashboard) catches :class:`InputError` and shows its
message as one line; anything else is a bug and may surface as a traceback.
"""


class InputError(ValueError):
    """Bad user input: a file, row, column, spec string or expression.

    The message must be one line and name what is wrong and where.
    """


class SpecError(InputError):
    """An architecture spec string that the space cannot parse or validate."""


class TableError(InputError):
    """A table that cannot be read or fails validation."""


class TargetError(InputError):
    """A target expression that is unsafe, malformed or names unknown columns."""
