"""Architecture/metric tables: validated against a search space, sampled from shipped benchmarks, described.

- :mod:`~core.tables.validated`: :class:`~core.tables.validated.ValidatedTable`, loading and hashing;
- :mod:`~core.tables.specs`: the ``arch`` column, every spec canonicalised in its space;
- :mod:`~core.tables.sampling`: the one sampler of shipped benchmarks (``python -m core sample``, the Data page);
- :mod:`~core.tables.stats`: per-column statistics for previews;
- :mod:`~core.tables.file_names`: what a table's file name says (space, dataset).

May import: spaces, files, graph, errors.
"""
