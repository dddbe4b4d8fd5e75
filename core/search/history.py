"""What a search has evaluated so far (:class:`History`), and how it trains a predictor (:data:`Trainer`).

Shared by the searchers (core/search/searchers/), the sequential iterative variants (core/search/rounds.py,
core/search/guided_evolution.py) and campaigns (core/campaign/campaign.py), so none of them imports another's package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.search.baselines import LookupOracle

if TYPE_CHECKING:  # a Run brings torch; commands that only read a campaign need none
    from core.runs.run import Run

#: train(specs, values, round) -> a Run trained on those labelled architectures.
Trainer = Callable[[list[str], list[float], int], "Run"]


@dataclass
class History:
    """What has been evaluated, in evaluation order: ``specs`` [E] and their target ``values`` [E]
    (higher is better). ``allowed`` (optional) tells whether a spec may be proposed at all (e.g. it is
    in a look-up table); proposals are always new, never in ``specs``."""

    specs: list[str]
    values: list[float]
    allowed: Callable[[str], bool] | None = None
    _seen: set[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.specs) != len(self.values):
            raise ValueError(f"{len(self.specs)} specs but {len(self.values)} values")
        self._seen = set(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def evaluated(self, spec: str) -> bool:
        return spec in self._seen

    def proposable(self, spec: str) -> bool:
        return spec not in self._seen and (self.allowed is None or self.allowed(spec))

    def best(self, count: int) -> list[str]:
        """The ``count`` evaluated specs with the best values (ties: the earlier first)."""
        order = np.argsort(-np.asarray(self.values, dtype=np.float64), kind="stable")[:count]
        return [self.specs[i] for i in order]

    @classmethod
    def of(cls, oracle: LookupOracle) -> "History":
        """The history of a budgeted look-up evaluation; proposals must be in its table."""
        index = oracle.table.index
        return cls([s for s, _, _ in oracle.history], [v for _, v, _ in oracle.history], lambda s: s in index)
