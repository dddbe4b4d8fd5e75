"""The modules two runs rank most differently (docs/design.md, section 2.7 for the module scores).

``module_disagreement`` scores the same architectures with two runs of one space and puts each module's
place in the two hop-``h`` rankings side by side. A module's place is its rank percentile within its hop's
ranking as the product shows it (the ``rank`` column: the order of the estimated mean target,
docs/design.md 2.7), 0 for the best module and 1 for the worst, so two rankings of different lengths
compare; ``disagreement = |place_a - place_b|``. A ranking without ``rank`` is placed by its score.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import metrics as M
from core.errors import InputError
from core.scoring.modules import score_modules


@dataclass
class ModuleDisagreement:
    """Two runs' hop-``hop`` rankings of the same modules.

    table: one row per module both rankings hold: ``signature``, ``description``, ``place_a``,
        ``place_b`` (rank percentiles of the shown order, 0 = best), ``score_a``, ``score_b`` (mean
        standardised scores), ``disagreement`` (``|place_a - place_b|``), most disagreed-on first.
    agreement: Spearman of the two runs' shown orders over the shared modules (NaN with < 2).
    only_a, only_b: modules only one ranking holds (none when both scored the same architectures).
    """

    hop: int
    table: pd.DataFrame
    agreement: float
    only_a: int
    only_b: int


def _places(ranking: pd.DataFrame) -> pd.Series:
    """Rank percentile of each signature in the shown order (``rank``; else by mean score), 0 for the best
    and 1 for the worst."""
    n = len(ranking)
    order = ranking["rank"].rank(method="average").to_numpy() if "rank" in ranking \
        else ranking["mean_score"].rank(ascending=False, method="average").to_numpy()
    places = (order - 1) / (n - 1) if n > 1 else np.zeros(n)
    return pd.Series(places, index=ranking["signature"].to_numpy())


def disagreement_table(ranking_a: pd.DataFrame, ranking_b: pd.DataFrame, hop: int) -> ModuleDisagreement:
    """Compare two ranking tables of one hop (rows as :meth:`core.scoring.modules.ModuleScores.ranking` gives)."""
    a = ranking_a.set_index("signature")
    b = ranking_b.set_index("signature")
    shared = a.index.intersection(b.index, sort=False)
    place_a, place_b = _places(ranking_a), _places(ranking_b)
    table = pd.DataFrame({
        "signature": shared,
        "description": a.loc[shared, "description"].to_numpy(),
        "place_a": place_a.loc[shared].to_numpy(),
        "place_b": place_b.loc[shared].to_numpy(),
        "score_a": a.loc[shared, "mean_score"].to_numpy(),
        "score_b": b.loc[shared, "mean_score"].to_numpy(),
    })
    table["disagreement"] = (table["place_a"] - table["place_b"]).abs()
    table = table.sort_values("disagreement", ascending=False, kind="stable").reset_index(drop=True)
    agreement = M.spearman(-table["place_a"], -table["place_b"]) if len(table) >= 2 else math.nan
    return ModuleDisagreement(hop, table, agreement, int(len(a) - len(shared)), int(len(b) - len(shared)))


def module_disagreement(run_a, run_b, hop: int) -> ModuleDisagreement:
    """Score the union of both runs' training architectures with each run and compare their hop-``hop``
    rankings. Both runs must belong to one search space and have at least ``hop`` hops."""
    if run_a.config.space != run_b.config.space:
        raise InputError(f"runs {run_a.name} ({run_a.config.space}) and {run_b.name} ({run_b.config.space}) "
                         "are from different search spaces; their modules cannot be compared")
    if not 0 <= hop <= min(run_a.hops, run_b.hops):
        raise InputError(f"hop {hop} is out of range: the runs have {run_a.hops} and {run_b.hops} hops")
    archs = pd.unique(pd.concat([run_a.table()["arch"], run_b.table()["arch"]], ignore_index=True))
    graphs = [run_a.space.to_graph(arch) for arch in archs]
    ranking_a = score_modules(run_a, graphs).ranking(hop)
    ranking_b = score_modules(run_b, graphs).ranking(hop)
    return disagreement_table(ranking_a, ranking_b, hop)
