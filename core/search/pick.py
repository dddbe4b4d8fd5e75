"""Which evaluated architecture to take home: the pick rule.

On a noisy benchmark the architecture with the best *measured* selection metric is, more often than
not, one whose measurement was lucky (the winner's curse): the harder a search pushes the validation
metric, the more of the noise it selects. A rule that uses only what the user has, the measurements
and the predictor, can discount luck:

    observed  the best measured value (the usual rule)
    shrunk    among the ``candidates`` best measured, the best of (measured + predicted) / 2, where
              ``predicted`` comes from a predictor trained on every *other* evaluated architecture,
              so no candidate's own (possibly lucky) measurement enters its prediction

``shrunk`` is the posterior mean of a candidate's true value under equal trust in the measurement
and the predictor (a fixed weight of 1/2, stated rather than fitted). It costs one predictor
training. Fair comparisons give every method the same rule (benchmarks/pick_rule.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.search.history import Trainer
from core.spaces.base import SearchSpace

PICK_RULES = ("observed", "shrunk")

#: How many of the best measured architectures the shrunk rule reconsiders.
CANDIDATES = 10


@dataclass
class Pick:
    """index: the picked architecture's position in the evaluated list; estimates: [C] the rule's
    value for each candidate (measured for ``observed``); candidates: [C] their positions."""

    index: int
    candidates: np.ndarray
    estimates: np.ndarray


def pick(space: SearchSpace, specs: Sequence[str], values: Sequence[float], rule: str = "observed",
         train: Trainer | None = None, candidates: int = CANDIDATES) -> Pick:
    """Apply ``rule`` (a key of :data:`PICK_RULES`) to evaluated ``specs`` with measured ``values``
    (higher is better). ``shrunk`` needs ``train`` and at least ``candidates`` + 10 evaluations;
    with fewer it falls back to ``observed``."""
    if rule not in PICK_RULES:
        raise ValueError(f"rule must be one of {list(PICK_RULES)}, not {rule!r}")
    measured = np.asarray(values, dtype=np.float64)
    order = np.argsort(-measured, kind="stable")
    if rule == "observed" or train is None or len(specs) < candidates + 10:
        return Pick(int(order[0]), order[:1], measured[order[:1]])
    top, rest = order[:candidates], order[candidates:]
    run = train([specs[i] for i in rest], [float(measured[i]) for i in rest], 0)
    predicted = run.predict([space.to_graph(specs[i]) for i in top]).values
    estimates = 0.5 * measured[top] + 0.5 * predicted
    return Pick(int(top[int(np.argmax(estimates))]), top, estimates)
