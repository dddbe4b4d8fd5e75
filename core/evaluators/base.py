"""The evaluator interface: a batch of architectures in, a table of metric rows out.

Evaluating is the expensive part of the loop (docs/design.md, "The loop"): training a network,
timing it, inpainting and measuring FID. An evaluator knows *how* to evaluate one architecture
(:meth:`ArchEvaluator.evaluate_one`); an executor (core.evaluators.executors) decides *where*: in
this process, a local process pool, or Ray tasks on a cluster. Evaluators are therefore plain,
picklable descriptions (:meth:`ArchEvaluator.to_dict` / :func:`evaluator_from_dict`) rebuilt inside
each worker; nothing heavy is shipped.

A failure of one architecture (a spec the network builder rejects, a crashed inpainting) is a
clear one-line error for that architecture, never the end of the batch.
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from core.errors import InputError

#: progress(done, total, spec, error or None): one call per finished architecture.
EvaluationProgress = Callable[[int, int, str, "str | None"], None]


class EvaluationError(Exception):
    """One architecture could not be evaluated; the message is one line and names it."""


@dataclass
class EvaluationBatch:
    """rows: ``arch`` plus the evaluator's metric columns, one row per evaluated architecture, in the
    order the architectures were given; errors: spec -> one-line reason, for the ones that failed."""

    rows: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)


class ArchEvaluator(ABC):
    """Base class of an evaluator. Subclasses set ``name`` and implement the abstract methods.

    Attributes:
        name: the registry name (``lookup``, ``measure``, ``fid``, ``external``).
        automatic: False for ``external``: nothing is evaluated here, the user brings results back.
        task_batch: how many architectures one Ray task evaluates.
    """

    name: ClassVar[str] = ""
    automatic: ClassVar[bool] = True
    #: Architectures per Ray task: 1 where one evaluation is heavy (training, FID), many where it is a
    #: look-up (a task costs more to schedule than hundreds of look-ups).
    task_batch: ClassVar[int] = 1

    @property
    @abstractmethod
    def space_name(self) -> str:
        """The search space whose specs this evaluator accepts."""

    @abstractmethod
    def metrics(self) -> tuple[str, ...]:
        """The metric columns every evaluated row has."""

    @abstractmethod
    def evaluate_one(self, spec: str) -> dict[str, float]:
        """Evaluate one canonical spec; raise :class:`EvaluationError` (one line) when it cannot."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description; :func:`evaluator_from_dict` rebuilds the evaluator from it."""

    def can_evaluate(self, spec: str) -> bool:
        """Whether ``spec`` (canonical) can be evaluated at all; searchers propose only these."""
        return True

    def task_resources(self) -> dict[str, float]:
        """What one evaluation needs from a Ray node (``num_cpus``, ``num_gpus``)."""
        return {"num_cpus": 1}

    def describe(self) -> str:
        """One line for logs and the dashboard."""
        return self.name


def evaluator_from_dict(data: dict[str, Any]) -> ArchEvaluator:
    """The evaluator a :meth:`ArchEvaluator.to_dict` describes (classes by lookup, never ``eval``)."""
    from core.evaluators import EVALUATORS

    if not isinstance(data, dict) or data.get("name") not in EVALUATORS:
        raise InputError(f"unknown evaluator {data!r}; choose from {list(EVALUATORS)}")
    options = {k: v for k, v in data.items() if k != "name"}
    try:
        return EVALUATORS[data["name"]](**options)
    except TypeError as err:
        raise InputError(f"evaluator {data['name']!r}: bad options {options} ({err})") from None


def evaluate_safely(evaluator: ArchEvaluator, spec: str) -> tuple[dict[str, float] | None, str | None]:
    """(row, None) or (None, one-line error): what every executor runs per architecture."""
    try:
        row = evaluator.evaluate_one(spec)
    except (EvaluationError, InputError) as err:
        return None, str(err).splitlines()[0] if str(err) else type(err).__name__
    except Exception as err:  # noqa: BLE001 - a worker's crash is that architecture's error, not the batch's
        return None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
    if not isinstance(row, dict):
        return None, f"evaluator {evaluator.name!r} returned a {type(row).__name__}, not a metric row"
    missing = [m for m in evaluator.metrics() if m not in row]
    if missing:
        return None, f"evaluator {evaluator.name!r} returned no {missing}"
    values: dict[str, float] = {}
    for m in evaluator.metrics():
        # A NaN, an infinity or text is that architecture's failure: recorded as a value, it would
        # join the campaign's table and break every later round's training.
        value = row[m]
        real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
        number = float(value) if real else math.nan
        if not math.isfinite(number):
            return None, f"evaluator {evaluator.name!r} returned {_shown(value)} for {m!r}, not a finite number"
        values[m] = number
    return values, None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
