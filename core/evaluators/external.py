"""External evaluation: nothing runs here. A campaign writes the round's proposals out as a table,
the user evaluates them however they like (training, a cluster, a lab) and ingests the results
(``python -m core loop ingest``); the results are validated like any uploaded table."""
from __future__ import annotations

from typing import Any

from core.evaluators.base import ArchEvaluator, EvaluationError
from core.spaces import get_space


class ExternalEvaluator(ArchEvaluator):
    """space: the campaign's space; metrics: the columns the user is expected to bring back."""

    name = "external"
    automatic = False

    def __init__(self, space: str, metrics: list[str] | None = None) -> None:
        self._space = get_space(space).name
        self._metrics = tuple(metrics or ())

    @property
    def space_name(self) -> str:
        return self._space

    def metrics(self) -> tuple[str, ...]:
        return self._metrics

    def evaluate_one(self, spec: str) -> dict[str, float]:
        raise EvaluationError("this campaign is evaluated outside the tool: download the proposals and ingest "
                              "their results")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "space": self._space, "metrics": list(self._metrics)}

    def describe(self) -> str:
        return "you (propose, fill in the metrics, ingest)"
