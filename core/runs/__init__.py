"""A run: one trained predictor and everything needed to reuse and trust it, as a directory.

- :mod:`~core.runs.run`: :class:`~core.runs.run.Run`, saving (atomically) and loading a run directory;
- :mod:`~core.runs.config`: :class:`~core.runs.config.RunConfig`, every setting a run records;
- :mod:`~core.runs.loading`: the run's file names and bounded, untrusting reads of them;
- :mod:`~core.runs.names`: run directory names, claimed with one ``mkdir``;
- :mod:`~core.runs.listing`: every complete run under a folder, without loading a model;
- :mod:`~core.runs.comparison`: saved runs' held-out quality side by side.

May import: predictor, spaces, tables, files, graph, errors. Never scoring, building or above.
"""
