"""AutoBuild as searchers: the paper's one-shot build, its build-in-rounds variants, and the reduced
space handed to evolution ("augmenting NAS"). See core/search/rounds.py for why the round variants exist.

    autobuild         one predictor on the N labelled -> build from the best modules -> evaluate
                      the top ``extra`` built (the paper's method; cells scored by their sink)
    autobuild-graph   the same with cells scored by the graph embedding's hop-L norm
    autobuild-norm    the same with each position's ops kept by their mean cell score (the paper's
                      readout) instead of their estimated mean target (the Modules page's order)
    autobuild-rounds  rounds of retrain -> build -> evaluate the best-ranked unevaluated built ones
    autobuild-local   rounds that evaluate the best-ranked reduced-space members one mutation from the
                      10 best evaluated
    autobuild+evo     N/2 labelled -> reduced space -> evolution inside it (benchmark only)

As proposers, ``autobuild`` and ``autobuild-rounds`` propose the same thing (one round of the build),
``autobuild-local`` its local acquisition: a campaign is the rounds. The round helpers live in
core/search/rounds.py, with the sequential form they came from.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.errors import InputError
from core.search.history import History, Trainer
from core.search.baselines import LookupOracle, SearchProgress, regularized_evolution
from core.search.searchers.base import SearchResult, Searcher, evaluate_all, require_support
from core.search.searchers.predictor import shared_run
from core.spaces.base import SearchSpace

if TYPE_CHECKING:  # a Run brings torch; reading a campaign or listing methods needs none
    from core.runs.run import Run

def _require(run: Run | None, name: str) -> Run:
    if run is None:
        raise InputError(f"method {name!r} needs a trained run")
    return run


class AutoBuildSearcher(Searcher):
    name = "autobuild"
    description = "AutoBuild (paper, one shot): build from the best modules of one predictor"
    needs_run = True
    cell_score = "sink"
    module_order = "estimate"

    def propose(self, space: SearchSpace, history: History, n: int, seed: int, run: Run | None = None) -> list[str]:
        from core.building.config import BuildConfig  # the builder brings torch: imported when used
        from core.search.rounds import unevaluated_built

        build = BuildConfig(k=self.settings.k, cell_score=self.cell_score, module_order=self.module_order)
        return unevaluated_built(_require(run, self.name), history, n, build)[:n]

    def search(self, space, oracle: LookupOracle, seed: int, train: Trainer, labelled, progress: SearchProgress | None = None,
               shared: dict | None = None) -> SearchResult:
        from core.building.builder import build_architectures  # the builder brings torch: imported when used
        from core.building.config import BuildConfig

        evaluate_all(oracle, labelled, progress)
        run = shared_run({} if shared is None else shared, train, list(labelled), [oracle(s) for s in labelled])
        # A build smaller than the budget (tiny reduced space) leaves evaluations unused.
        built = build_architectures(run, BuildConfig(top=self.settings.extra * 4, k=self.settings.k,
                                                     cell_score=self.cell_score,
                                                     module_order=self.module_order)).built["arch"]
        evaluate_all(oracle, built, progress)
        return SearchResult(list(oracle.history), oracle.best(), [run])


class AutoBuildGraphSearcher(AutoBuildSearcher):
    name = "autobuild-graph"
    description = "AutoBuild one shot, cells scored by the graph embedding's hop-L norm"
    cell_score = "graph"


class AutoBuildNormSearcher(AutoBuildSearcher):
    name = "autobuild-norm"
    description = "AutoBuild one shot, ops kept by the paper's norm readout instead of the estimated mean target"
    module_order = "score"


class AutoBuildRoundsSearcher(AutoBuildSearcher):
    name = "autobuild-rounds"
    description = "AutoBuild in rounds: retrain, build, evaluate the best-ranked unevaluated built ones"
    acquire = "top"

    def search(self, space, oracle: LookupOracle, seed: int, train: Trainer, labelled, progress: SearchProgress | None = None,
               shared: dict | None = None) -> SearchResult:
        from core.building.config import BuildConfig  # the builder brings torch: imported when used
        from core.search.rounds import RoundsConfig, autobuild_rounds

        require_support(self, space)
        half = list(labelled)[: len(labelled) // 2]
        config = RoundsConfig(self.settings.rounds, BuildConfig(k=self.settings.k), acquire=self.acquire, seed=seed)
        runs = autobuild_rounds(oracle, half, train, config, progress=progress)
        return SearchResult(list(oracle.history), oracle.best(), runs)


class AutoBuildLocalSearcher(AutoBuildRoundsSearcher):
    name = "autobuild-local"
    description = "AutoBuild in rounds, evaluating reduced-space members one mutation from the best"
    acquire = "local"
    needs_sampling = True

    def propose(self, space: SearchSpace, history: History, n: int, seed: int, run: Run | None = None) -> list[str]:
        from core.building.config import BuildConfig  # the builder brings torch: imported when used
        from core.search.rounds import near_the_best, unevaluated_built

        require_support(self, space)
        ranked = unevaluated_built(_require(run, self.name), history, n, BuildConfig(k=self.settings.k))
        return near_the_best(space, history, ranked, n, np.random.default_rng(seed))[:n]


class AutoBuildEvoSearcher(Searcher):
    name = "autobuild+evo"
    description = "AutoBuild's reduced space searched by regularized evolution (benchmark only)"
    needs_run = True
    proposes = False
    needs_sampling = True

    def search(self, space, oracle: LookupOracle, seed: int, train: Trainer, labelled, progress: SearchProgress | None = None,
               shared: dict | None = None) -> SearchResult:
        from core.building.builder import build_architectures  # the builder brings torch: imported when used
        from core.building.config import BuildConfig

        require_support(self, space)
        half = list(labelled)[: len(labelled) // 2]
        evaluate_all(oracle, half, progress)
        run = train(half, [oracle(s) for s in half], 0)
        reduced = build_architectures(run, BuildConfig(top=1, k=self.settings.k)).reduced_specs
        reduced = [s for s in reduced if s in oracle.table.index] or list(oracle.table.index)
        regularized_evolution(space, oracle, seed, pool=reduced, initial=reduced[: min(20, len(reduced))],
                              progress=progress)
        return SearchResult(list(oracle.history), oracle.best(), [run])
