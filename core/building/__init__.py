"""Building architectures from the best modules of a trained run (docs/design.md, section 2.8).

- :mod:`~core.building.builder`: ``build_architectures``, the entry point;
- :mod:`~core.building.config`: :class:`~core.building.config.BuildConfig` and the result;
- :mod:`~core.building.units`: the paper's unit builder (top-k per unit, reduced space);
- :mod:`~core.building.modules`: the (position, op) builder for spaces without units;
- :mod:`~core.building.pool`: the pool of candidate cells, encoded once, and their scores;
- :mod:`~core.building.head_top`: the regression head's top N (the predictor baseline);
- :mod:`~core.building.constraints`, :mod:`~core.building.limits`: limits such as ``latency <= 0.004``,
  looked up or measured;
- :mod:`~core.building.lookup`: true metrics of built architectures from the space's shipped table.

May import: scoring, runs, predictor, spaces, graph, errors.
"""
