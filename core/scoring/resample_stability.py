"""How often each module makes its hop's top places when the predictor is refit on subsamples of the table
(docs/design.md 2.7, "Refits on subsamples").

A ranking moves for two reasons: the same rows fitted again from another start (the members of an ensemble
measure that: their spread and ``members_top10``), and other rows of the same space (the table's own
sampling), which the members cannot show since they all learn from the same table. Stability selection
(Meinshausen and Buhlmann, *Stability selection*, JRSS B 2010) measures the second: refit the whole
procedure on B random subsamples of half the rows and report, per item, in how many of the B fits it lands in
the top k. A module "in the top 10 in 9 of 10 refits" stands on the table's evidence; one in 2 of 10 is the
table's luck, whatever its interval says.

Each refit b trains the run's own predictor (its model and training settings, seed ``seed + b``) on a
subsample S_b of ``fraction`` of the table's rows, drawn without replacement, and orders the run's ranking
rows (every module of the full table) by the same estimate as the run
(:func:`core.scoring.space_estimate.estimate_modules`): the refit's mean prediction over the pool's holders,
corrected by the residuals of S_b's rows only (the other rows count as unseen: NaN targets). Output: per
(hop, signature), the number of refits in whose order the module is within the hop's first ``top``
(0..B); every refit places exactly min(top, modules of the hop) modules.

Cost: B trainings on half the rows (the default ``min_steps`` keeps each at about a full training's steps)
plus one estimate each over a pool encoded once: about 10 s per refit for 300 NAS-Bench-Graph rows and a
5-member ensemble on 2 CPU cores.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.graph import ArchGraph
from core.predictor.batching import EncodedGraphs
from core.predictor.config import TrainConfig
from core.predictor.train import train_predictor
from core.runs.run import Run
from core.scoring.space_estimate import (
    EncodedPool,
    covers_space,
    estimate_modules,
    holders,
)

#: Most refits one call may ask for (each is a training).
MAX_RESAMPLES = 100


@dataclass(frozen=True)
class ResampleConfig:
    """resamples: B refits (2..:data:`MAX_RESAMPLES`); fraction: share of the table's rows each refit
    learns from, in (0, 1) (1/2 is stability selection's); top: the places counted (k); seed: the first
    refit's seed (refit b draws its rows and trains with ``seed + b``)."""

    resamples: int = 10
    fraction: float = 0.5
    top: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.resamples, int) or not 2 <= self.resamples <= MAX_RESAMPLES:
            raise ValueError(f"resamples must be an integer in 2..{MAX_RESAMPLES}, not {self.resamples!r}")
        if not 0 < self.fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), not {self.fraction!r}")
        if not isinstance(self.top, int) or self.top < 1:
            raise ValueError(f"top must be a positive integer, not {self.top!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32 - MAX_RESAMPLES:
            raise ValueError(f"seed must be an integer in 0..2**32-{MAX_RESAMPLES + 1}, not {self.seed!r}")


def resample_top_counts(run: Run, graphs: Sequence[ArchGraph], targets: Sequence[float], rows: pd.MultiIndex,
                        pool: Sequence[ArchGraph] = (), config: ResampleConfig = ResampleConfig(),
                        progress: Callable[[int, int], None] | None = None) -> pd.Series:
    """[M] for each (hop, signature) of ``rows`` (a ranking's rows: modules of ``graphs``), how many of
    ``config.resamples`` refits on subsamples of ``graphs`` place it within its hop's first ``config.top``.

    ``targets`` [T]: the table's targets (all finite: a run's table); ``pool``: the estimate's further
    architectures (:func:`core.scoring.space_estimate.draw_pool`). ``progress(done, total)`` after each refit.
    """
    y = np.asarray(targets, dtype=np.float64)
    if len(y) != len(graphs) or not np.isfinite(y).all():
        raise ValueError("targets must give every architecture of the table a finite value")
    size = round(config.fraction * len(graphs))
    if size < 4:
        raise ValueError(f"a subsample of {config.fraction:g} of {len(graphs)} rows is under 4 rows")
    model_config = run.config.model or run.model.config
    train_config = run.config.train or TrainConfig()
    store = EncodedGraphs(list(graphs), run.schema)
    table_holders = holders(graphs, run.hops)
    encoded_pool = EncodedPool.of(pool, run)
    census = covers_space(run, [g.spec for g in graphs], len(encoded_pool))
    hop_of_row = rows.get_level_values(0).to_numpy()
    counts = np.zeros(len(rows), dtype=np.int64)
    for b in range(config.resamples):
        seed = config.seed + b
        chosen = np.sort(np.random.default_rng(seed).choice(len(graphs), size=size, replace=False))
        result = train_predictor(EncodedGraphs([graphs[i] for i in chosen], run.schema), y[chosen], model_config,
                                 dataclasses.replace(train_config, seed=seed))
        refit = _in_memory(run, result)
        seen = np.full(len(y), np.nan)
        seen[chosen] = y[chosen]
        estimate = estimate_modules(refit, table_holders, store, seen, encoded_pool, rows,
                                    census=census).frame["estimate"]
        for h in np.unique(hop_of_row):
            at_hop = np.flatnonzero(hop_of_row == h)
            order = at_hop[np.argsort(-estimate.to_numpy()[at_hop], kind="stable")]
            counts[order[:config.top]] += 1
        if progress is not None:
            progress(b + 1, config.resamples)
    return pd.Series(counts, index=rows, name="resample_top")


def _in_memory(run: Run, result) -> Run:
    """The refit as a Run of the same space, schema and target (nothing written)."""
    config = dataclasses.replace(run.config, target_mean=float(result.target_mean),
                                 target_std=float(result.target_std),
                                 hop_moments=tuple(tuple(map(float, m)) for m in result.hop_moments))
    return Run(Path("<refit>"), config, result.model.eval(), {})
