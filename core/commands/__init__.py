"""One module per ``python -m core`` command; see :mod:`core.cli`."""
