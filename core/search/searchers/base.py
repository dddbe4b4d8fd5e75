"""The searcher interface: what every search method (AutoBuild's and the baselines) implements.

A searcher is used two ways (docs/design.md, "The loop"):

* **propose** (ask/tell): given everything evaluated so far (a :class:`History`) and, for model-based
  methods, a predictor trained on it, return ``n`` new distinct architectures to evaluate next. This
  is what a campaign calls once per round; it keeps no state between calls, so a campaign that
  restarts proposes exactly what it would have proposed.
* **search**: spend a whole evaluation budget on a look-up benchmark (``core.search.baselines.LookupOracle``)
  and return the history and the pick. The benchmark and ``python -m core search`` call this. The
  default runs ``propose`` in rounds (retrain, propose a share of what is left, evaluate), as a
  campaign would; the methods that predate campaigns keep their sequential form so that every
  published figure (benchmarks/results/) reproduces exactly.

Methods are found by name in :data:`core.search.searchers.SEARCHERS` (a lookup table, never ``eval``).
"""
from __future__ import annotations

import math
from abc import ABC
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Sequence

from core.errors import InputError
from core.search.history import History, Trainer
from core.search.baselines import LookupOracle, SearchProgress, report_progress
from core.spaces.base import SearchSpace

if TYPE_CHECKING:  # a Run brings torch; reading a campaign or listing methods needs none
    from core.runs.run import Run


@dataclass(frozen=True)
class SearchSettings:
    """Settings shared by the methods. k: modules kept per unit/position in a build; rounds: train-
    propose-evaluate rounds (or, for autobuild-guided's sequential form, predictor trainings) over the
    budget; extra: evaluations after the N labelled (one-shot methods build this many); population,
    sample_size: regularized evolution's P and S; candidates: mutations scored per child."""

    k: int = 3
    rounds: int = 4
    extra: int = 4
    population: int = 20
    sample_size: int = 5
    candidates: int = 10

    def __post_init__(self) -> None:
        for name in ("k", "rounds", "extra", "population", "sample_size", "candidates"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.population < 2 or self.sample_size > self.population:
            raise ValueError(f"need population >= 2 and sample_size <= population, got {self.population}, "
                             f"{self.sample_size}")


@dataclass
class SearchResult:
    """A finished search: ``history`` rows (spec, selection value, report value) in evaluation order,
    and ``pick``, the evaluated architecture with the best selection value (the rule a user applies)."""

    history: list[tuple[str, float, float]]
    pick: tuple[str, float, float]
    runs: list[Run] = field(default_factory=list)


class Searcher(ABC):
    """Base class of a search method. Subclasses set ``name`` and ``needs_run`` and implement
    :meth:`propose` (campaigns) and/or :meth:`search` (benchmarks)."""

    name: ClassVar[str] = ""
    #: One line for ``--help`` and the dashboard.
    description: ClassVar[str] = ""
    #: True when :meth:`propose` needs a predictor trained on the history (``run``).
    needs_run: ClassVar[bool] = False
    #: True when the method can propose a campaign round (implements :meth:`propose`).
    proposes: ClassVar[bool] = True
    #: True when the method draws random architectures or mutates them (``space.sample`` /
    #: ``space.mutate``), so it works only on a space that declares ``can_sample``.
    needs_sampling: ClassVar[bool] = False

    def __init__(self, settings: SearchSettings = SearchSettings()) -> None:
        self.settings = settings

    @classmethod
    def supports(cls, space: SearchSpace) -> bool:
        """Whether the method can search ``space`` (asked of the space's declared capabilities)."""
        return space.can_sample or not cls.needs_sampling

    def propose(self, space: SearchSpace, history: History, n: int, seed: int, run: Run | None = None) -> list[str]:
        """Up to ``n`` distinct architectures not in ``history`` to evaluate next (fewer only when the
        space has no more). ``seed`` decides every random choice, so the same call proposes the same."""
        raise InputError(f"method {self.name!r} cannot propose for a campaign; use one of "
                         f"{_campaign_methods()}")

    def search(self, space: SearchSpace, oracle: LookupOracle, seed: int, train: Trainer, labelled: Sequence[str],
               progress: SearchProgress | None = None, shared: dict | None = None) -> SearchResult:
        """Spend ``oracle``'s budget. ``labelled``: the N random architectures every method of a
        benchmark trial shares; ``shared``: a dict per trial in which methods that train on exactly
        those labels share one predictor (the benchmark's protocol). This default is the campaign
        loop: label the first ``settings.population`` of them, then ``settings.rounds`` rounds of
        train (when the method needs a predictor) -> propose an equal share of what is left ->
        evaluate. Round r's proposals use seed ``seed * 1000 + r``, as campaign round r + 1 does."""
        require_support(self, space)
        runs: list[Run] = []
        evaluate_all(oracle, labelled[: self.settings.population], progress)
        for r in range(self.settings.rounds):
            if oracle.remaining <= 0:
                break
            history = History.of(oracle)
            run = None
            if self.needs_run:
                run = train(list(history.specs), list(history.values), r)
                runs.append(run)
            share = math.ceil(oracle.remaining / (self.settings.rounds - r))
            proposed = self.propose(space, history, share, seed=seed * 1000 + r, run=run)
            if not proposed:
                break
            evaluate_all(oracle, proposed, progress)
        return SearchResult(list(oracle.history), oracle.best(), runs)


def evaluate_all(oracle: LookupOracle, specs: Sequence[str], progress: SearchProgress | None = None) -> None:
    """Evaluate ``specs`` in order until the budget is spent."""
    for spec in specs:
        if oracle.remaining <= 0:
            break
        oracle(spec)
        report_progress(progress, oracle)


def require_support(searcher: Searcher | type[Searcher], space: SearchSpace) -> None:
    """Refuse, with one line and before any work, a method that ``space`` cannot serve (a sampling
    method on a space that only parses, such as ``graph`` or ``onnx``)."""
    if not searcher.supports(space):
        usable = _campaign_methods(space)
        instead = (f"use one of {usable}" if usable else
                   "use a space that can sample architectures, or evaluate a table of your own")
        raise InputError(f"space {space.name!r} cannot sample architectures; method {searcher.name!r} needs it; "
                         f"{instead}")


def require_sampling(space: SearchSpace, what: str) -> None:
    """The same refusal for the helpers that draw or mutate architectures (``what`` names the step)."""
    if not space.can_sample:
        raise InputError(f"space {space.name!r} cannot sample architectures; {what} needs it")


def _campaign_methods(space: SearchSpace | None = None) -> list[str]:
    from core.search.searchers import campaign_methods

    return campaign_methods(space)
