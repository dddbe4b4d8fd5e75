"""Search baselines under an evaluation budget: random search, regularized evolution, predictor-guided.

Every method queries architectures through an :class:`LookupOracle`, which looks metrics up in a
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
class LookupOracle:
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


def random_search(space: SearchSpace, evaluate: LookupOracle, seed: int,
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


def regularized_evolution(space: SearchSpace, evaluate: LookupOracle, seed: int, population: int = 20,
                          sample_size: int = 5, pool: Sequence[str] | None = None,
                          initial: Sequence[str] = (), progress: SearchProgress | None = None,
                          choose: ChildChooser | None = None, candidates: int = 1) -> None:
    """Aging evolution (Real et al. 2019) until the budget is spent.

    ``initial`` architectures (already evaluated ones cost nothing) seed the population before random
    ones. With a ``pool``, random members and children are drawn from the pool: a mutation that leaves
    it is retried, then replaced by a random pool member. With ``choose``, each step draws up to
    ``candidates`` distinct unevaluated mutations of the parent and evaluates the one ``choose``
    returns (predictor-guided evolution, e.g. core.search.guided_evolution); without it, one mutation.
    """
    if population < 2 or not 1 <= sample_size <= population:
        raise ValueError(f"need population >= 2 and 1 <= sample_size <= population, got {population}, {sample_size}")
    if candidates < 1:
        raise ValueError(f"candidates must be positive, got {candidates}")
    rng = np.random.default_rng(seed)
    draws = _EvolutionDraws(space, evaluate, rng, pool, choose, candidates)
    queue: collections.deque[tuple[str, float]] = collections.deque()
    try:
        _fill_population(queue, initial, population, draws, evaluate, progress)
        while evaluate.remaining > 0:
            picks = rng.choice(len(queue), size=sample_size, replace=False)
            parent = max((queue[i] for i in picks), key=lambda m: m[1])[0]
            child = draws.child_of(parent)
            queue.append((child, evaluate(child)))
            queue.popleft()
            report_progress(progress, evaluate)
    except BudgetExhausted:
        return


def _fill_population(queue: collections.deque[tuple[str, float]], initial: Sequence[str], population: int,
                     draws: "_EvolutionDraws", evaluate: LookupOracle, progress: SearchProgress | None) -> None:
    """Evaluate the ``initial`` architectures, then random ones, until ``population`` are in ``queue``."""
    for spec in initial:
        if len(queue) >= population:
            break
        queue.append((spec, evaluate(spec)))
        report_progress(progress, evaluate)
    while len(queue) < population:
        spec = draws.random_member()
        queue.append((spec, evaluate(spec)))
        report_progress(progress, evaluate)


class _EvolutionDraws:
    """The random draws of regularized evolution: random members and children, within the table and pool."""

    def __init__(self, space: SearchSpace, evaluate: LookupOracle, rng: np.random.Generator,
                 pool: Sequence[str] | None, choose: ChildChooser | None, candidates: int) -> None:
        self.space, self.evaluate, self.rng = space, evaluate, rng
        self.pool, self.choose, self.candidates = pool, choose, candidates
        self.members = set(pool) if pool is not None else None
        self.table = evaluate.table.index

    def random_member(self) -> str:
        if self.pool is not None:
            return self.pool[int(self.rng.integers(len(self.pool)))]
        while True:
            spec = self.space.sample(self.rng)
            if spec in self.table:
                return spec

    def allowed(self, spec: str) -> bool:
        return spec in self.table and (self.members is None or spec in self.members)

    def child_of(self, parent: str) -> str:
        """A mutation of ``parent`` (the one ``choose`` picks of up to ``candidates`` new ones, if given);
        after 20 mutations that leave the table or pool, a random member."""
        if self.choose is not None:
            children: dict[str, None] = {}
            for _ in range(20 * self.candidates):
                spec = self.space.mutate(parent, self.rng)
                if self.allowed(spec) and not self.evaluate.evaluated(spec):
                    children[spec] = None
                    if len(children) == self.candidates:
                        break
            if children:
                return self.choose(list(children))
        for _ in range(20):
            spec = self.space.mutate(parent, self.rng)
            if self.allowed(spec):
                return spec
        return self.random_member()


def predictor_guided(evaluate: LookupOracle, candidates: Sequence[str], predicted: Sequence[float],
                     progress: SearchProgress | None = None) -> None:
    """Evaluate the candidates with the best predicted value (not evaluated yet) until the budget."""
    order = np.argsort(-np.asarray(predicted, dtype=np.float64), kind="stable")
    for i in order:
        if evaluate.remaining <= 0:
            break
        if not evaluate.evaluated(candidates[i]):
            evaluate(candidates[i])
            report_progress(progress, evaluate)


def report_progress(progress: SearchProgress | None, evaluate: LookupOracle) -> None:
    """Call ``progress`` (if any) with the evaluations so far, the budget and the best value."""
    if progress is not None:
        progress(evaluate.used, evaluate.budget, evaluate.best()[1])
