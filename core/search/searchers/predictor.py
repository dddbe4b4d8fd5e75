"""Predictor-guided search (BANANAS-style baseline): evaluate what the regression head ranks best.

It uses the same predictor as AutoBuild but reads its regression head over a candidate pool (the
whole space when it is enumerable) instead of module scores, so it isolates what the modules add.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import InputError
from core.search.baselines import LookupOracle, SearchProgress, predictor_guided
from core.search.history import History, Trainer
from core.search.searchers.base import Searcher, SearchResult, evaluate_all
from core.spaces.base import SearchSpace

if TYPE_CHECKING:  # a Run brings torch; reading a campaign or listing methods needs none
    from core.runs.run import Run

def shared_run(shared: dict, train: Trainer, specs: list[str], values: list[float]) -> Run:
    """The predictor trained on a benchmark trial's N labelled architectures, trained once per trial."""
    if "run" not in shared:
        shared["run"] = train(specs, values, 0)
    return shared["run"]

class PredictorSearcher(Searcher):
    name = "predictor"
    description = "the regression head's best-predicted architectures of the space (a predictor baseline)"
    needs_run = True

    def propose(self, space: SearchSpace, history: History, n: int, seed: int, run: Run | None = None) -> list[str]:
        if run is None:
            raise InputError("the predictor method needs a trained run")
        from core.building.head_top import head_order  # the pool brings torch: imported when used
        from core.building.pool import pool_for

        pool = pool_for(run)
        order = head_order(run, pool)
        return [pool.specs[i] for i in order if history.proposable(pool.specs[i])][:n]

    def search(self, space, oracle: LookupOracle, seed: int, train: Trainer, labelled, progress: SearchProgress | None = None,
               shared: dict | None = None) -> SearchResult:
        from core.building.pool import pool_for  # brings torch: imported when used

        evaluate_all(oracle, labelled, progress)
        run = shared_run({} if shared is None else shared, train, list(labelled),
                         [oracle(s) for s in labelled])
        pool = pool_for(run)
        predictor_guided(oracle, pool.specs, run.predict(pool.store).values, progress=progress)
        return SearchResult(list(oracle.history), oracle.best(), [run])
