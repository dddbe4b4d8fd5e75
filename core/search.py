"""Search baselines under an evaluation budget: random search, regularized evolution, predictor-guided.

Every method queries architectures through an :class:`Evaluator`, which looks metrics up in a
benchmark table, counts *distinct* evaluated architectures and refuses to go past the budget, so
methods are compared at exactly the same number of evaluations. A method may be restricted to a
``pool`` of specs (e.g. AutoBuild's reduced search space).

Regularized evolution follows Real et al., AAAI 2019 ("aging evolution"): a population of P
architectures; each step samples S of them, mutates the best of the sample, evaluates the child,
appends it and removes the *oldest* member.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from core.errors import InputError
from core.spaces.base import SearchSpace

#: progress(evaluations so far, budget, best validation value so far)
SearchProgress = Callable[[int, int, float], None]

#: choose(children) -> the one to evaluate: given distinct, unevaluated mutations of a parent.
ChildChooser = Callable[[list[str]], str]


class BudgetExhausted(RuntimeError):
    """Raised when a method asks for one evaluation more than its budget."""


@dataclass
class Evaluator:
    """Look-up evaluation of architectures with a hard budget of distinct architectures.

    ``table`` is indexed by canonical spec; ``select`` is the column methods optimise (validation),
    ``report`` the column reported at the end (test). Re-querying an evaluated architecture is free.
    """

    table: pd.DataFrame
    select: str
    report: str
    budget: int
    history: list[tuple[str, float, float]] = field(default_factory=list)
    _seen: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for column in (self.select, self.report):
            if column not in self.table.columns:
                raise InputError(f"metric {column!r} is not in the look-up table {list(self.table.columns)}")

    def evaluated(self, spec: str) -> bool:
        return spec in self._seen

    @property
    def used(self) -> int:
        return len(self._seen)

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    def __call__(self, spec: str) -> float:
        if spec in self._seen:
            return self._seen[spec]
        if self.used >= self.budget:
            raise BudgetExhausted(f"budget of {self.budget} evaluations exhausted")
        if spec not in self.table.index:
            raise InputError(f"architecture {spec!r} is not in the look-up table")
        value = float(self.table.at[spec, self.select])
        self._seen[spec] = value
        self.history.append((spec, value, float(self.table.at[spec, self.report])))
        return value

    def best(self) -> tuple[str, float, float]:
        """The evaluated architecture with the best ``select`` value: (spec, select, report)."""
        if not self.history:
            raise ValueError("nothing evaluated yet")
        return max(self.history, key=lambda row: row[1])


def random_search(space: SearchSpace, evaluate: Evaluator, seed: int,
                  pool: Sequence[str] | None = None, progress: SearchProgress | None = None) -> None:
    """Evaluate uniformly random distinct architectures (of the space, or of ``pool``) until the budget."""
    rng = np.random.default_rng(seed)
    if pool is not None:
        order = rng.permutation(len(pool))
        for i in order:
            if evaluate.remaining <= 0:
                break
            evaluate(pool[i])
            report_progress(progress, evaluate)
        return
    tries = 0
    while evaluate.remaining > 0 and tries < 100 * evaluate.budget:
        spec = space.sample(rng)
        tries += 1
        if spec in evaluate.table.index:
            evaluate(spec)
            report_progress(progress, evaluate)


def regularized_evolution(space: SearchSpace, evaluate: Evaluator, seed: int, population: int = 20,
                          sample_size: int = 5, pool: Sequence[str] | None = None,
                          initial: Sequence[str] = (), progress: SearchProgress | None = None,
                          choose: ChildChooser | None = None, candidates: int = 1) -> None:
    """Aging evolution (Real et al. 2019) until the budget is spent.

    ``initial`` architectures (already evaluated ones cost nothing) seed the population before random
    ones. With a ``pool``, random members and children are drawn from the pool: a mutation that leaves
    it is retried, then replaced by a random pool member. With ``choose``, each step draws up to
    ``candidates`` distinct unevaluated mutations of the parent and evaluates the one ``choose``
    returns (predictor-guided evolution, e.g. core.guided_evolution); without it, one mutation.
    """
    if population < 2 or not 1 <= sample_size <= population:
        raise ValueError(f"need population >= 2 and 1 <= sample_size <= population, got {population}, {sample_size}")
    if candidates < 1:
        raise ValueError(f"candidates must be positive, got {candidates}")
    rng = np.random.default_rng(seed)
    members = set(pool) if pool is not None else None
    table = evaluate.table.index

    def random_member() -> str:
        if pool is not None:
            return pool[int(rng.integers(len(pool)))]
        while True:
            spec = space.sample(rng)
            if spec in table:
                return spec

    def allowed(spec: str) -> bool:
        return spec in table and (members is None or spec in members)

    def child_of(parent: str) -> str:
        if choose is not None:
            children: dict[str, None] = {}
            for _ in range(20 * candidates):
                spec = space.mutate(parent, rng)
                if allowed(spec) and not evaluate.evaluated(spec):
                    children[spec] = None
                    if len(children) == candidates:
                        break
            if children:
                return choose(list(children))
        for _ in range(20):
            spec = space.mutate(parent, rng)
            if allowed(spec):
                return spec
        return random_member()

    queue: collections.deque[tuple[str, float]] = collections.deque()
    try:
        for spec in initial:
            if len(queue) >= population:
                break
            queue.append((spec, evaluate(spec)))
            report_progress(progress, evaluate)
        while len(queue) < population:
            spec = random_member()
            queue.append((spec, evaluate(spec)))
            report_progress(progress, evaluate)
        while evaluate.remaining > 0:
            picks = rng.choice(len(queue), size=sample_size, replace=False)
            parent = max((queue[i] for i in picks), key=lambda m: m[1])[0]
            child = child_of(parent)
            queue.append((child, evaluate(child)))
            queue.popleft()
            report_progress(progress, evaluate)
    except BudgetExhausted:
        return


def predictor_guided(evaluate: Evaluator, candidates: Sequence[str], predicted: Sequence[float],
                     progress: SearchProgress | None = None) -> None:
    """Evaluate the candidates with the best predicted value (not evaluated yet) until the budget."""
    order = np.argsort(-np.asarray(predicted, dtype=np.float64), kind="stable")
    for i in order:
        if evaluate.remaining <= 0:
            break
        if not evaluate.evaluated(candidates[i]):
            evaluate(candidates[i])
            report_progress(progress, evaluate)


def report_progress(progress: SearchProgress | None, evaluate: Evaluator) -> None:
    """Call ``progress`` (if any) with the evaluations so far, the budget and the best value."""
    if progress is not None:
        progress(evaluate.used, evaluate.budget, evaluate.best()[1])
