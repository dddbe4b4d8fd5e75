"""Where a campaign stands: per-round summaries, the pick, the pending proposals, and how well each
round's predictor ranked its proposals before they were evaluated (docs/design.md, "The loop")."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core import metrics as M
from core.campaign.files import ROUND, CampaignConfig
from core.errors import InputError

if TYPE_CHECKING:
    from core.campaign.files import CampaignDir


@dataclass
class RoundSummary:
    """One round: how many it proposed and evaluated, its best target, the best so far after it,
    and how well the round's predictor ranked its proposals before they were evaluated."""

    round: int
    proposed: int
    evaluated: int
    failed: int
    best: float
    best_so_far: float
    spearman: float | None
    #: How many proposals the Spearman pairs (predicted before, measured after); 0 without one.
    spearman_n: int = 0


@dataclass
class CampaignStatus:
    """Where a campaign stands. pick: the evaluated row with the best target (arch, metrics, target,
    round, source); pending: the open round's proposals without a result; failed: spec -> reason;
    bad_rows: 1-based table row -> why it is unusable (only in a directory an older version wrote: such a
    row stays in the file but is left out of training, proposing and the pick)."""

    config: CampaignConfig
    rounds: list[RoundSummary]
    evaluated: int
    pick: dict[str, Any]
    pending: list[str]
    open_round: int | None
    failed: dict[str, str] = field(default_factory=dict)
    bad_rows: dict[int, str] = field(default_factory=dict)

    @property
    def completed_rounds(self) -> int:
        return sum(1 for r in self.rounds if r.round > 0 and r.round != self.open_round)

    @property
    def last_round_spearman(self) -> float | None:
        last = self.last_spearman_round
        return None if last is None else last.spearman

    @property
    def last_spearman_round(self) -> RoundSummary | None:
        """The last closed round with a predicted-vs-measured Spearman (the figure, its count and its
        round number, so a message quoting it names the round it is about)."""
        closed = [r for r in self.rounds if r.round > 0 and r.round != self.open_round and r.spearman is not None]
        return closed[-1] if closed else None


def campaign_status(campaign: "CampaignDir") -> CampaignStatus:
    """The campaign's :class:`CampaignStatus`, read from its directory."""
    frame = campaign.table()
    values = campaign.target_values(frame)  # NaN on a bad row an older version wrote
    usable = np.isfinite(values)
    if not usable.any():
        raise InputError(f"{campaign.path}: no row of the campaign's table has a usable target")
    best = int(np.flatnonzero(usable)[np.argmax(values[usable])])
    pick = {**frame.iloc[best].to_dict(), "target": float(values[best])}
    open_round = campaign.open_round()
    summaries, failed = [], {}
    best_so_far = -math.inf
    last = max([0] + campaign.rounds_started())
    for r in range(0, last + 1):
        in_round = values[(frame[ROUND].to_numpy() == r) & usable]
        proposed = 0
        spearman, pairs = None, 0
        round_failed = 0
        if r > 0 and (campaign.round_dir(r) / "proposals.csv").is_file():
            proposals = campaign.proposals(r)
            proposed = len(proposals)
            errors = {s: o["error"] for s, o in campaign.outcomes(r).items() if "error" in o}
            failed.update(errors)
            round_failed = len(errors)
            spearman, pairs = _prospective_spearman(proposals, frame, values, r)
        if in_round.size:
            best_so_far = max(best_so_far, float(in_round.max()))
        summaries.append(RoundSummary(r, proposed, int(in_round.size), round_failed,
                                      float(in_round.max()) if in_round.size else math.nan, best_so_far, spearman,
                                      pairs if spearman is not None else 0))
    # The same open round for both: a proposal finishing in another thread meanwhile must not
    # give pending proposals without their round.
    return CampaignStatus(campaign.config, summaries, len(frame), pick, campaign._pending_in(open_round),
                          open_round, failed, campaign.bad_rows(frame))


def _prospective_spearman(proposals: pd.DataFrame, frame: pd.DataFrame, values: np.ndarray,
                          r: int) -> tuple[float | None, int]:
    """Spearman of the round's predictions (made before evaluation) with the measured target, and how
    many proposals it pairs: the campaign's one out-of-sample figure of its predictor."""
    if "predicted" not in proposals or proposals["predicted"].isna().all():
        return None, 0
    measured = dict(zip(frame["arch"].astype(str)[frame[ROUND] == r], values[frame[ROUND].to_numpy() == r]))
    pairs = [(p, measured[s]) for s, p in zip(proposals["arch"].astype(str), proposals["predicted"])
             if s in measured and math.isfinite(measured[s]) and math.isfinite(p)]
    if len(pairs) < 3:
        return None, len(pairs)
    value = M.spearman(np.array([p for p, _ in pairs]), np.array([m for _, m in pairs]))
    return (None if value is None or not math.isfinite(value) else float(value)), len(pairs)
