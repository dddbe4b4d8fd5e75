"""Iterative AutoBuild: label, train, build from the best modules, evaluate the built, repeat.

The paper's AutoBuild trains once on N labelled architectures and builds a few more from the best
modules. With few labels the predictor is least sure exactly where it matters, among the best
architectures, and the built ones rarely beat the best labelled one (benchmarks/results/
build_quality_*.md). This variant spends the same evaluation budget in rounds, as sequential
model-based search does (BANANAS, White et al. 2021, with a GNN predictor in place of their path
encoding):

    label ``initial`` architectures
    repeat ``rounds`` times:
        train the predictor on everything evaluated so far
        build: rank modules, keep the top k per unit/position, rank the reduced space
        evaluate the best-ranked architectures not evaluated yet (an equal share of what is left)

Each round's predictor sees labels that the previous round's modules chose, so the module rankings
sharpen where the good architectures are. What is evaluated is always chosen by module scores (the
reduced space ranked by cell or unit score), never by the regression head, so this stays AutoBuild.

Why ``acquire="local"``: the reduced space often holds the best cell of the whole space while its
best-ranked members are no better than the best labelled one (benchmarks/results/build_quality_nb201.md):
the module scores find the right region, not the best point in it. Regularized evolution is strong
there because it searches locally, so the local acquisition ranks only the reduced-space members one
mutation from the best evaluated ones.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.building.builder import build_architectures
from core.building.config import BuildConfig
from core.runs.run import Run
from core.search.baselines import LookupOracle, SearchProgress, report_progress
from core.search.history import History, Trainer
from core.spaces.base import SearchSpace

#: What a round evaluates (``RoundsConfig.acquire``): ``"top"``, the best-ranked unevaluated members
#: of the reduced space; ``"local"``, the best-ranked of those that are one mutation away from one of
#: the best evaluated architectures (BANANAS's mutation acquisition inside AutoBuild's reduced space).
ACQUISITIONS = ("top", "local")


@dataclass(frozen=True)
class RoundsConfig:
    """rounds: how many train-build-evaluate rounds share the budget left after the initial labels;
    build: the build settings of every round (its ``top`` is raised as needed); acquire: a key of
    :data:`ACQUISITIONS`; parents, mutations: with ``"local"``, mutations are drawn from the
    ``parents`` best evaluated architectures, ``mutations`` tries per round; seed: their randomness."""

    rounds: int = 4
    build: BuildConfig = BuildConfig()
    acquire: str = "top"
    parents: int = 10
    mutations: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"rounds must be a positive integer, not {self.rounds!r}")
        if self.acquire not in ACQUISITIONS:
            raise ValueError(f"acquire must be one of {list(ACQUISITIONS)}, not {self.acquire!r}")
        if self.parents < 1 or self.mutations < 1:
            raise ValueError(f"parents and mutations must be positive, not {self.parents}, {self.mutations}")


def autobuild_rounds(evaluate: LookupOracle, initial: Sequence[str], train: Trainer,
                     config: RoundsConfig = RoundsConfig(), progress: SearchProgress | None = None) -> list[Run]:
    """Spend ``evaluate``'s budget: ``initial`` first, then ``config.rounds`` rounds of built ones.

    Returns the predictor of every round (the last one saw all but the last round's labels). A round
    whose reduced space runs out of unevaluated architectures widens it (a larger ``k``).
    """
    for spec in initial:
        if evaluate.remaining <= 0:
            break
        evaluate(spec)
        report_progress(progress, evaluate)
    runs = []
    rng = np.random.default_rng(config.seed)
    for r in range(config.rounds):
        if evaluate.remaining <= 0:
            break
        share = math.ceil(evaluate.remaining / (config.rounds - r))
        specs = [spec for spec, _, _ in evaluate.history]
        run = train(specs, [value for _, value, _ in evaluate.history], r)
        runs.append(run)
        history = History.of(evaluate)
        ranked = unevaluated_built(run, history, share, config.build)
        if config.acquire == "local":
            ranked = near_the_best(run.space, history, ranked, share, rng, config.parents, config.mutations)
        for spec in ranked[:share]:
            evaluate(spec)
            report_progress(progress, evaluate)
    return runs



def unevaluated_built(run: Run, history: History, n: int, build: BuildConfig) -> list[str]:
    """The run's reduced space, best-ranked first, without what ``history`` evaluated (at least ``n``
    where the space allows: when fewer are left, ``k`` is raised until there are ``n`` or the reduced
    space stops growing)."""
    k, size = build.k, -1
    while True:
        config = dataclasses.replace(build, top=n + len(history), k=k)
        result = build_architectures(run, config)
        ranked = result.reduced_specs or list(result.built["arch"])
        fresh = [s for s in ranked if history.proposable(s)]
        if len(fresh) >= n or result.reduced_space_size == size:
            return fresh
        k, size = k + 1, result.reduced_space_size


def near_the_best(space: SearchSpace, history: History, ranked: list[str], n: int, rng: np.random.Generator,
                  parents: int = RoundsConfig.parents, mutations: int = RoundsConfig.mutations) -> list[str]:
    """Of the reduced space's ranking, the members one mutation from a top-``parents`` evaluated
    architecture, best-ranked first; topped up from the plain ranking when there are fewer than ``n``."""
    from core.search.searchers.base import (
        require_sampling,  # the searchers import this module
    )

    require_sampling(space, "the local acquisition (mutations of the best)")
    best = history.best(parents)
    children = {space.mutate(best[int(rng.integers(len(best)))], rng) for _ in range(mutations)}
    near = [spec for spec in ranked if spec in children]
    return near + [spec for spec in ranked if spec not in children][:max(0, n - len(near))]
