"""Random search: uniformly random distinct architectures (the baseline every NAS paper reports)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.search.baselines import LookupOracle, SearchProgress, random_search
from core.search.history import History, Trainer
from core.search.searchers.base import (
    Searcher,
    SearchResult,
    require_sampling,
    require_support,
)
from core.spaces.base import SearchSpace

if TYPE_CHECKING:  # a Run brings torch; reading a campaign or listing methods needs none
    from core.runs.run import Run


def random_proposals(space: SearchSpace, history: History, n: int, rng: np.random.Generator,
                     exclude: set[str] | None = None) -> list[str]:
    """Up to ``n`` distinct uniformly random proposable specs not in ``exclude``. Sampling gives up
    after 100 tries per wanted spec; an enumerable space then draws from what is left."""
    require_sampling(space, "drawing random proposals")
    exclude = set() if exclude is None else exclude
    chosen: dict[str, None] = {}
    for _ in range(100 * n + 100):
        if len(chosen) >= n:
            break
        spec = space.sample(rng)
        if spec not in exclude and spec not in chosen and history.proposable(spec):
            chosen[spec] = None
    if len(chosen) < n and space.enumerable:
        left = [s for s in space.enumerate() if s not in exclude and s not in chosen and history.proposable(s)]
        for i in rng.permutation(len(left))[: n - len(chosen)]:
            chosen[left[i]] = None
    return list(chosen)


class RandomSearcher(Searcher):
    name = "random"
    description = "uniformly random architectures"
    needs_sampling = True

    def propose(self, space: SearchSpace, history: History, n: int, seed: int, run: Run | None = None) -> list[str]:
        require_support(self, space)
        # A stream apart from default_rng(seed), which `sample --seed` draws tables with: a campaign
        # started from a table sampled with its own seed would otherwise re-draw that very table.
        return random_proposals(space, history, n, np.random.default_rng((seed, 1)))

    def search(self, space, oracle: LookupOracle, seed: int, train: Trainer, labelled, progress: SearchProgress | None = None,
               shared: dict | None = None) -> SearchResult:
        require_support(self, space)
        random_search(space, oracle, seed, progress=progress)
        return SearchResult(list(oracle.history), oracle.best())
