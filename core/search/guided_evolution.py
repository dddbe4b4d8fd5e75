"""AutoBuild-guided evolution: regularized evolution whose children are chosen by module scores.

Why: module scores find the right region of a space, not the best point in it (core/search/rounds.py), and
regularized evolution (Real et al. 2019) is the strongest baseline (benchmarks/results/
build_quality_*.md) because it searches locally around the best architectures it has evaluated. This
variant keeps evolution's search and lets AutoBuild choose each step's child, as predictor-guided
evolution does (NPENAS, Wei et al. 2022, with a GNN predictor):

    fill the population (``initial`` labelled architectures, then random ones)
    train the predictor on everything evaluated
    until the budget is spent:
        sample ``sample_size`` members, take the best as parent (tournament)
        draw ``candidates`` distinct unevaluated mutations of the parent
        evaluate the one with the best cell-module score; append it, age out the oldest member
        every (budget - population) / ``retrains`` evaluations, retrain on everything evaluated

The cell-module score is the build's (core.building.builder.CellPool.cell_scores): by default the graph
embedding's hop-L norm (``cell_score="graph"``, the quantity the magnitude-ranked loss ranks), or the
standardised norm of the cell's sink at hop min(depth, L) (``"sink"``). The graph readout is the
default because it must rank *neighbours*, the mutations of one parent, and it ranks them best of the
readouts (``python benchmarks/local_ranking.py``, benchmarks/results/local_ranking.md). The regression
head is not used, so the choice stays AutoBuild's: the module that covers the child ranks it. With
``candidates=1`` this is plain regularized evolution (docs/design.md 3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.building.config import CELL_SCORES
from core.building.pool import CellPool
from core.runs.run import Run
from core.search.baselines import LookupOracle, SearchProgress, regularized_evolution
from core.search.history import Trainer
from core.spaces.base import SearchSpace


@dataclass(frozen=True)
class GuidedEvolutionConfig:
    """population, sample_size: regularized evolution's P and S; candidates: mutations of the parent
    scored per step; retrains: predictor trainings over the budget after the population (the first
    right after it); cell_score: a key of :data:`core.building.builder.CELL_SCORES`; seed: evolution's randomness."""

    population: int = 20
    sample_size: int = 5
    candidates: int = 10
    retrains: int = 4
    cell_score: str = "graph"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.population < 2 or not 1 <= self.sample_size <= self.population:
            raise ValueError(f"need population >= 2 and 1 <= sample_size <= population, "
                             f"got {self.population}, {self.sample_size}")
        for name in ("candidates", "retrains"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.cell_score not in CELL_SCORES:
            raise ValueError(f"cell_score must be one of {list(CELL_SCORES)}, not {self.cell_score!r}")


class _ModuleChooser:
    """Picks the child with the best cell-module score, retraining the predictor on schedule."""

    def __init__(self, space: SearchSpace, evaluate: LookupOracle, train: Trainer, config: GuidedEvolutionConfig):
        self.space, self.evaluate, self.train, self.config = space, evaluate, train, config
        self.runs: list[Run] = []
        self.next_training = 0  # evaluations after which the next training is due (set on first call)
        self.every = 1

    def __call__(self, children: list[str]) -> str:
        if not self.runs or self.evaluate.used >= self.next_training:
            if not self.runs:
                self.every = max(1, math.ceil(self.evaluate.remaining / self.config.retrains))
            history = self.evaluate.history
            self.runs.append(self.train([spec for spec, _, _ in history], [value for _, value, _ in history],
                                        len(self.runs)))
            self.next_training = self.evaluate.used + self.every
        if len(children) == 1:
            return children[0]
        run = self.runs[-1]
        scores = CellPool(self.space, children, run.schema).cell_scores(run, self.config.cell_score)
        return children[int(np.argmax(scores))]


def guided_evolution(space: SearchSpace, evaluate: LookupOracle, train: Trainer,
                     config: GuidedEvolutionConfig = GuidedEvolutionConfig(), initial: Sequence[str] = (),
                     progress: SearchProgress | None = None) -> list[Run]:
    """Spend ``evaluate``'s budget on AutoBuild-guided evolution; returns the predictor of every
    training (``config.retrains`` of them when the budget outlasts the population)."""
    chooser = _ModuleChooser(space, evaluate, train, config)
    regularized_evolution(space, evaluate, config.seed, population=config.population,
                          sample_size=config.sample_size, initial=initial, progress=progress,
                          choose=chooser, candidates=config.candidates)
    return chooser.runs
