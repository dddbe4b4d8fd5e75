"""The regression head's top N: the usual predictor baseline next to AutoBuild's built architectures.

Predictor-based NAS (BANANAS-style; the paper's "Exhaustive Search (4)" on SD v1.4) evaluates the
architectures that the trained predictor's regression head ranks best over the whole space, so the
comparison isolates what the module scores add. Works for every enumerable space: a space small
enough to pool (:data:`~core.building.config.MAX_POOL`) is scored from the encoded pool the builds use
(encoded once per process); a larger one (sd-unet, 884,736) is streamed in batches, keeping only the
running top N, so memory stays at one batch whatever the space size.
"""
from __future__ import annotations

import time
from typing import Callable, Collection, Iterable, Iterator

import numpy as np
import pandas as pd

from core.building.config import MAX_POOL
from core.building.pool import CellPool, pool_for
from core.errors import InputError
from core.runs.run import Run

Predict = Callable[[list[str]], np.ndarray]
Progress = Callable[[int, "int | None"], None]


def _batches(specs: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for spec in specs:
        batch.append(spec)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def top_by_prediction(predict: Predict, n: int, specs: Iterable[str], *, total: int | None = None,
                      maximize: bool = True, exclude: Collection[str] = (), batch_size: int = 8192,
                      progress: Progress | None = None) -> pd.DataFrame:
    """The ``n`` best of ``specs`` by ``predict``, streamed in batches (ties keep the order of ``specs``).

    Args:
        predict: maps a list of canonical specs to one predicted target per spec (array [len(specs)]).
        n: how many to return.
        specs: the canonical specs to score (any iterable; it is read once).
        total: how many ``specs`` there are, for ``progress`` (None when unknown).
        maximize: True when a larger prediction is better; False to rank smallest first.
        exclude: specs never returned (e.g. the already evaluated architectures).
        batch_size: specs per ``predict`` call.
        progress: ``progress(done, total)`` after every batch.

    Returns:
        columns ``arch``, ``predicted``, ``rank`` (1 = best), best first; ``attrs`` hold ``scored`` (how many
        specs were scored) and ``seconds``.
    """
    if n < 1 or batch_size < 1:
        raise InputError(f"the head's top N needs n >= 1 and batch_size >= 1, not {n} and {batch_size}")
    excluded = set(exclude)
    sign = 1.0 if maximize else -1.0
    best_specs: list[str] = []
    best_scores = np.empty(0)
    scored = 0
    start = time.perf_counter()
    for batch in _batches(specs, batch_size):
        if excluded:
            batch = [s for s in batch if s not in excluded]
        if batch:
            scores = np.asarray(predict(batch), dtype=np.float64).reshape(-1)
            if scores.shape[0] != len(batch):
                raise ValueError(f"predict returned {scores.shape[0]} scores for {len(batch)} specs")
            if np.isnan(scores).any():
                raise ValueError("predict returned NaN scores")
            # Merge the batch into the running top n: only n + batch candidates are ever sorted.
            best_specs = best_specs + batch
            best_scores = np.concatenate([best_scores, sign * scores])
            keep = np.argsort(-best_scores, kind="stable")[:n]
            best_specs = [best_specs[i] for i in keep]
            best_scores = best_scores[keep]
            scored += len(batch)
        if progress is not None:
            progress(scored, total)
    return _table(best_specs, sign * best_scores, scored, time.perf_counter() - start)


def _table(specs: list[str], predicted: np.ndarray, scored: int, seconds: float) -> pd.DataFrame:
    table = pd.DataFrame({"arch": specs, "predicted": predicted, "rank": np.arange(1, len(specs) + 1)})
    table.attrs.update(scored=scored, seconds=seconds)
    return table


def head_order(run: Run, pool: CellPool) -> np.ndarray:
    """Indices of ``pool.specs``, best predicted first (ties keep the pool's order)."""
    return np.argsort(-run.predict(pool.store).values, kind="stable")


def head_top(run: Run, n: int = 4, *, include_evaluated: bool = False, batch_size: int = 8192,
             progress: Progress | None = None) -> pd.DataFrame:
    """The ``n`` architectures of the run's whole space that its regression head predicts best.

    The run's target is "higher is better" by construction (costs are negated), so the largest
    predictions win. Architectures of the run's training table are left out unless
    ``include_evaluated``: they are already evaluated, and the baseline spends its budget on new ones.
    Same columns and ``attrs`` as :func:`top_by_prediction`, plus ``attrs["excluded"]``.
    """
    space = run.space
    if not space.enumerable:
        raise InputError(f"space {space.name!r} cannot be enumerated, so it cannot be searched exhaustively; "
                         "build from its units instead")
    if n < 1 or batch_size < 1:
        raise InputError(f"the head's top N needs n >= 1 and batch_size >= 1, not {n} and {batch_size}")
    evaluated = set() if include_evaluated else set(run.table()["arch"])
    total = space.size()
    if (total or 0) <= MAX_POOL:
        started = time.perf_counter()
        pool = pool_for(run)
        values = run.predict(pool.store).values
        keep = np.array([spec not in evaluated for spec in pool.specs], dtype=bool)
        order = np.flatnonzero(keep)[np.argsort(-values[keep], kind="stable")][:n]
        if progress is not None:
            progress(int(keep.sum()), total)
        table = _table([pool.specs[i] for i in order], values[order], int(keep.sum()),
                       time.perf_counter() - started)
    else:
        def predict(specs: list[str]) -> np.ndarray:
            return run.predict([space.to_graph(s) for s in specs]).values

        table = top_by_prediction(predict, n, space.enumerate(), total=total, exclude=evaluated,
                                  batch_size=batch_size, progress=progress)
    table.attrs["excluded"] = len(evaluated)
    return table
