"""Search methods: one registry, one interface (core.search.searchers.base.Searcher).

``get_searcher(name, settings)`` resolves a method name through :data:`SEARCHERS`, a lookup table of
classes (never ``eval``). Adding a method is a :class:`Searcher` subclass in this package and a line here.
"""
from __future__ import annotations

from core.errors import InputError
from core.search.history import History, Trainer
from core.search.searchers.autobuild import (
    AutoBuildEvoSearcher,
    AutoBuildGraphSearcher,
    AutoBuildLocalSearcher,
    AutoBuildNormSearcher,
    AutoBuildRoundsSearcher,
    AutoBuildSearcher,
)
from core.search.searchers.base import (
    Searcher,
    SearchResult,
    SearchSettings,
    require_sampling,
    require_support,
)
from core.search.searchers.evolution import EvolutionSearcher
from core.search.searchers.guided import GuidedSearcher, LoopSearcher
from core.search.searchers.predictor import PredictorSearcher
from core.search.searchers.random import RandomSearcher
from core.spaces.base import SearchSpace

#: name -> searcher class, in the order reports list them.
SEARCHERS: dict[str, type[Searcher]] = {cls.name: cls for cls in (
    AutoBuildSearcher, AutoBuildGraphSearcher, AutoBuildNormSearcher, RandomSearcher, EvolutionSearcher, PredictorSearcher,
    AutoBuildEvoSearcher, AutoBuildRoundsSearcher, AutoBuildLocalSearcher, GuidedSearcher, LoopSearcher)}

#: The method a campaign uses unless told otherwise: the best on benchmarks/results/build_quality_*.md.
DEFAULT_METHOD = "autobuild-guided"


def get_searcher(name: str, settings: SearchSettings = SearchSettings()) -> Searcher:
    if name not in SEARCHERS:
        raise InputError(f"unknown method {name!r}; choose from {list(SEARCHERS)}")
    return SEARCHERS[name](settings)


def campaign_methods(space: SearchSpace | None = None) -> list[str]:
    """The methods that can propose a campaign round (those that override ``propose``); with
    ``space``, only those the space supports (a sampling method needs ``space.can_sample``)."""
    return [name for name, cls in SEARCHERS.items() if cls.proposes and (space is None or cls.supports(space))]


__all__ = ["SEARCHERS", "DEFAULT_METHOD", "get_searcher", "campaign_methods", "require_support", "require_sampling",
           "History", "SearchResult", "SearchSettings", "Searcher", "Trainer"]
