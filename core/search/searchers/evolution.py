"""Regularized (aging) evolution, Real et al. AAAI 2019, as a searcher.

As a proposer it is stateless: in aging evolution the population is always the ``population`` most
recently evaluated architectures (each step appends a child and removes the oldest), so the history
alone decides it. A round's ``n`` children are drawn from that one population, as asynchronous
workers do in the paper.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from core.search.baselines import LookupOracle, SearchProgress, regularized_evolution
from core.search.history import History, Trainer
from core.search.searchers.base import (
    Searcher,
    SearchResult,
    require_sampling,
    require_support,
)
from core.search.searchers.random import random_proposals
from core.spaces.base import SearchSpace

if TYPE_CHECKING:  # a Run brings torch; reading a campaign or listing methods needs none
    from core.runs.run import Run


def tournament_parents(history: History, n: int, population: int, sample_size: int,
                       rng: np.random.Generator) -> list[str]:
    """``n`` parents, each the best of ``sample_size`` members drawn from the ``population`` most
    recently evaluated architectures (all of them when fewer)."""
    members = list(zip(history.specs[-population:], history.values[-population:]))
    size = min(sample_size, len(members))
    parents = []
    for _ in range(n):
        picks = rng.choice(len(members), size=size, replace=False)
        parents.append(max((members[i] for i in picks), key=lambda m: m[1])[0])
    return parents


def mutations_of(space: SearchSpace, parent: str, count: int, history: History, taken: set[str],
                 rng: np.random.Generator, tries_per: int = 20) -> list[str]:
    """Up to ``count`` distinct proposable one-step mutations of ``parent`` not in ``taken``."""
    require_sampling(space, "mutating architectures")
    found: dict[str, None] = {}
    for _ in range(tries_per * count):
        spec = space.mutate(parent, rng)
        if spec not in taken and history.proposable(spec):
            found[spec] = None
            if len(found) == count:
                break
    return list(found)


def evolve(space: SearchSpace, history: History, n: int, rng: np.random.Generator, population: int,
           sample_size: int, candidates: int, choose: Callable[[list[list[str]]], list[int]] | None = None) -> list[str]:
    """A round of ``n`` distinct children: tournament parent -> ``candidates`` mutations -> one child.

    ``choose`` gets every child's candidate list at once and returns the index of the one to take in
    each (AutoBuild's module score ranks them all in one batch); without it, the first. A parent with
    no new mutation left is replaced by a random architecture.
    """
    if not history.specs:
        return random_proposals(space, history, n, rng)
    parents = tournament_parents(history, n, population, sample_size, rng)
    taken: set[str] = set()
    options: list[list[str]] = []
    for parent in parents:
        children = mutations_of(space, parent, candidates, history, taken, rng)
        if not children:
            children = random_proposals(space, history, 1, rng, exclude=taken)
        options.append(children)
        taken.update(children)
    picks = choose(options) if choose is not None else [0] * len(options)
    chosen = [children[i] for children, i in zip(options, picks) if children]
    return list(dict.fromkeys(chosen))


class EvolutionSearcher(Searcher):
    name = "evolution"
    description = "regularized evolution (Real et al. 2019): mutate tournament winners, age out the oldest"
    needs_sampling = True

    def propose(self, space: SearchSpace, history: History, n: int, seed: int, run: Run | None = None) -> list[str]:
        require_support(self, space)
        s = self.settings
        return evolve(space, history, n, np.random.default_rng(seed), s.population, s.sample_size, candidates=1)

    def search(self, space, oracle: LookupOracle, seed: int, train: Trainer, labelled, progress: SearchProgress | None = None,
               shared: dict | None = None) -> SearchResult:
        require_support(self, space)
        regularized_evolution(space, oracle, seed, progress=progress)
        return SearchResult(list(oracle.history), oracle.best())
