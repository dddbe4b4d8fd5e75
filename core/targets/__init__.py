"""Targets: what the predictor learns to rank, as safe expressions over a table's metric columns.

- :mod:`~core.targets.expression`: the whitelist parser and the numpy calculator (never Python's ``eval``);
- :mod:`~core.targets.target`: :class:`~core.targets.target.Target`, presets, units and warnings.

Imports only :mod:`core.errors`.
"""
