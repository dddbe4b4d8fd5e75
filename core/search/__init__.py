"""Searching a space under an evaluation budget, and comparing searches.

- :mod:`~core.search.searchers`: every method in one registry (``get_searcher``), one interface;
- :mod:`~core.search.baselines`: random search, regularized evolution and predictor-guided search over a
  :class:`~core.search.baselines.LookupOracle` (look-up with a hard budget);
- :mod:`~core.search.rounds`, :mod:`~core.search.guided_evolution`: AutoBuild's iterative variants;
- :mod:`~core.search.history`: what a search has evaluated, and how it trains a predictor;
- :mod:`~core.search.pick`: which evaluated architecture to take home;
- :mod:`~core.search.benchmark`, :mod:`~core.search.benchmark_config`: the head-to-head harness.

May import: building, scoring, runs, predictor, spaces, errors. Campaigns and commands import it.
"""
