"""Evaluators: how an architecture gets its metrics (look-up, measured, FID, or by the user).

One interface (:class:`core.evaluators.base.ArchEvaluator`), one file per evaluator, found by name in
:data:`EVALUATORS`; executors (local, Ray) in :mod:`core.evaluators.executors`.
"""
from __future__ import annotations

from core.evaluators.base import (
                                  ArchEvaluator,
                                  EvaluationBatch,
                                  EvaluationError,
                                  evaluate_safely,
                                  evaluator_from_dict,
)
from core.evaluators.external import ExternalEvaluator
from core.evaluators.fid import FIDEvaluator
from core.evaluators.lookup import LookupEvaluator
from core.evaluators.measure import MeasureEvaluator

#: name -> evaluator class.
EVALUATORS: dict[str, type[ArchEvaluator]] = {cls.name: cls for cls in (
    LookupEvaluator, MeasureEvaluator, FIDEvaluator, ExternalEvaluator)}

__all__ = ["EVALUATORS", "ArchEvaluator", "EvaluationBatch", "EvaluationError", "evaluate_safely",
           "evaluator_from_dict", "ExternalEvaluator", "FIDEvaluator", "LookupEvaluator", "MeasureEvaluator"]
