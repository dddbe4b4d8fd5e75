"""AutoBuild-guided evolution as a searcher: evolution whose children are chosen by module scores.

Why and how: core/search/guided_evolution.py. As a proposer (a campaign round) it is evolution's round
(core.search.searchers.evolution.evolve) in which each child is, of ``candidates`` distinct unevaluated
mutations of its tournament winner, the one whose cell module scores best under the round's
predictor (the graph embedding's hop-L norm). All children of a round are scored in one batch.

Two registry entries: ``autobuild-guided`` searches a benchmark in its sequential form (one child at
a time, ``rounds`` retrainings; the published figures), ``autobuild-loop`` exactly as a campaign
runs it (the base class's rounds: label ``population``, then ``rounds`` rounds of retrain -> propose
a share -> evaluate). Both propose the same way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.errors import InputError
from core.search.baselines import LookupOracle, SearchProgress
from core.search.history import History, Trainer
from core.search.searchers.base import Searcher, SearchResult, require_support
from core.search.searchers.evolution import evolve
from core.spaces.base import SearchSpace

if TYPE_CHECKING:  # a Run brings torch; reading a campaign or listing methods needs none
    from core.runs.run import Run

#: How a child's cell is scored (a key of core.building.builder.CELL_SCORES); see core/search/guided_evolution.py.
CELL_SCORE = "graph"


class GuidedSearcher(Searcher):
    name = "autobuild-guided"
    description = "AutoBuild-guided evolution: each child is the best module score of 10 mutations"
    needs_run = True
    needs_sampling = True

    def propose(self, space: SearchSpace, history: History, n: int, seed: int, run: Run | None = None) -> list[str]:
        require_support(self, space)
        if run is None:
            raise InputError(f"method {self.name!r} needs a trained run")
        s = self.settings

        def best_scored(options: list[list[str]]) -> list[int]:
            flat = [spec for children in options for spec in children]
            if not flat:
                return [0] * len(options)
            from core.building.pool import CellPool  # brings torch: imported when a round proposes

            scores = CellPool(space, flat, run.schema).cell_scores(run, CELL_SCORE)
            picks, start = [], 0
            for children in options:
                picks.append(int(np.argmax(scores[start:start + len(children)])) if children else 0)
                start += len(children)
            return picks

        return evolve(space, history, n, np.random.default_rng(seed), s.population, s.sample_size, s.candidates,
                      choose=best_scored)

    def search(self, space, oracle: LookupOracle, seed: int, train: Trainer, labelled, progress: SearchProgress | None = None,
               shared: dict | None = None) -> SearchResult:
        from core.search.guided_evolution import (  # it imports this package
            GuidedEvolutionConfig,
            guided_evolution,
        )

        require_support(self, space)
        # Evolution's usual population of 20, but leave tiny budgets room to be guided.
        budget = len(labelled)
        population = min(self.settings.population, max(2, budget // 2))
        config = GuidedEvolutionConfig(population=population, sample_size=min(self.settings.sample_size, population),
                                       candidates=self.settings.candidates, retrains=self.settings.rounds, seed=seed)
        runs = guided_evolution(space, oracle, train, config, initial=list(labelled)[:population], progress=progress)
        return SearchResult(list(oracle.history), oracle.best(), runs)


class LoopSearcher(GuidedSearcher):
    name = "autobuild-loop"
    description = "AutoBuild-guided evolution proposing in campaign rounds (the loop's default)"
    proposes = False  # a campaign asks autobuild-guided, whose proposals are these
    search = Searcher.search
