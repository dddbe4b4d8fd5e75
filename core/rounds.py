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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from core.build import BuildConfig, build_architectures
from core.runs import Run
from core.search import Evaluator, SearchProgress, report_progress

#: train(specs, values, round) -> a Run trained on those labelled architectures.
Trainer = Callable[[list[str], list[float], int], Run]


@dataclass(frozen=True)
class RoundsConfig:
    """rounds: how many train-build-evaluate rounds share the budget left after the initial labels;
    build: the build settings of every round (its ``top`` is raised as needed)."""

    rounds: int = 4
    build: BuildConfig = BuildConfig()

    def __post_init__(self) -> None:
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"rounds must be a positive integer, not {self.rounds!r}")


def autobuild_rounds(evaluate: Evaluator, initial: Sequence[str], train: Trainer,
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
    for r in range(config.rounds):
        if evaluate.remaining <= 0:
            break
        share = math.ceil(evaluate.remaining / (config.rounds - r))
        specs = [spec for spec, _, _ in evaluate.history]
        run = train(specs, [value for _, value, _ in evaluate.history], r)
        runs.append(run)
        for spec in _unevaluated_built(run, evaluate, share, config.build):
            evaluate(spec)
            report_progress(progress, evaluate)
    return runs


def _unevaluated_built(run: Run, evaluate: Evaluator, n: int, build: BuildConfig) -> list[str]:
    """The ``n`` best-ranked architectures of the run's reduced space that are not evaluated yet.

    When the reduced space has fewer than ``n`` left (later rounds of a small space), ``k`` is raised
    until it has them or stops growing.
    """
    k, size = build.k, -1
    while True:
        config = BuildConfig(top=n + evaluate.used, k=k, cell_score=build.cell_score, unit_hop=build.unit_hop)
        result = build_architectures(run, config)
        ranked = result.reduced_specs or list(result.built["arch"])
        fresh = [s for s in ranked if not evaluate.evaluated(s) and s in evaluate.table.index]
        if len(fresh) >= n or result.reduced_space_size == size:
            return fresh[:n]
        k, size = k + 1, result.reduced_space_size
