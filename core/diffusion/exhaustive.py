"""The exhaustive-search baseline of the paper's SD v1.4 experiment ("Exhaustive Search (4)").

AutoBuild (Mills et al., CVPR 2024) compares its N built U-Nets with the N architectures that the trained
predictor's regression head ranks best over the *whole* space. This module streams every spec of a space
(884,736 for ``sd-unet``) through a ``predict(specs) -> scores`` callable in batches and keeps the running
top N, so memory stays at one batch whatever the space size. It knows nothing about the predictor: the
caller wires a trained run's regression head in as ``predict``.
"""
from __future__ import annotations

import time
from typing import Callable, Collection, Iterable, Iterator

import numpy as np
import pandas as pd

from core.errors import InputError
from core.spaces import get_space

Predict = Callable[[list[str]], np.ndarray]


def _batches(specs: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for spec in specs:
        batch.append(spec)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def exhaustive_top(predict: Predict, n: int = 4, *, space: str = "sd-unet", specs: Iterable[str] | None = None,
                   maximize: bool = True, exclude: Collection[str] = (), batch_size: int = 8192,
                   progress: Callable[[int, int | None], None] | None = None) -> pd.DataFrame:
    """The ``n`` best architectures by predicted target, over every spec of ``space`` (or of ``specs``).

    Args:
        predict: maps a list of canonical specs to one predicted target per spec (array [len(specs)]).
        n: how many to return (the paper uses 4).
        space: the space whose :meth:`enumerate` is scored when ``specs`` is None.
        specs: score these canonical specs instead (e.g. a reduced space).
        maximize: True when a larger prediction is better (a target such as ``-fid``); False to rank
            raw FID-like predictions, smallest first.
        exclude: specs never returned (e.g. the already evaluated architectures).
        batch_size: specs per ``predict`` call.
        progress: ``progress(done, total)`` after every batch (total is None for a plain iterable).

    Returns:
        columns ``arch``, ``predicted``, ``rank`` (1 = best), best first; ``attrs`` hold ``scored`` (how many
        specs were scored) and ``seconds``.
    """
    if n < 1 or batch_size < 1:
        raise InputError(f"exhaustive search needs n >= 1 and batch_size >= 1, not {n} and {batch_size}")
    total = None
    if specs is None:
        search_space = get_space(space)
        if not search_space.enumerable:
            raise InputError(f"space {space!r} cannot be enumerated, so it cannot be searched exhaustively")
        specs, total = search_space.enumerate(), search_space.size()
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
    table = pd.DataFrame({"arch": best_specs, "predicted": sign * best_scores,
                          "rank": np.arange(1, len(best_specs) + 1)})
    table.attrs.update(scored=scored, seconds=time.perf_counter() - start)
    return table


def run_exhaustive_top(run, n: int = 4, *, include_evaluated: bool = False, batch_size: int = 8192,
                       progress: Callable[[int, int | None], None] | None = None) -> pd.DataFrame:
    """:func:`exhaustive_top` with a trained run's regression head over the run's whole space.

    The run's target is "higher is better" by construction (costs are negated), so the largest
    predictions win. Architectures of the run's training table are left out unless
    ``include_evaluated``: they are already evaluated, and the baseline spends its budget on new ones.
    """
    space = run.space
    if not space.enumerable:
        raise InputError(f"space {space.name!r} cannot be enumerated, so it cannot be searched exhaustively; "
                         "build from its units instead")
    evaluated = () if include_evaluated else set(run.table()["arch"])

    def predict(specs: list[str]) -> np.ndarray:
        return run.predict([space.to_graph(s) for s in specs]).values

    table = exhaustive_top(predict, n, space=space.name, exclude=evaluated, batch_size=batch_size, progress=progress)
    table.attrs["excluded"] = len(evaluated)
    return table
