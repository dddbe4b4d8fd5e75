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


@dataclass
class CampaignStatus:
    """Where a campaign stands. pick: the evaluated row with the best target (arch, metrics, target,
    round, source); pending: the open round's proposals without a result; failed: spec -> reason."""

    config: CampaignConfig
    rounds: list[RoundSummary]
    evaluated: int
    pick: dict[str, Any]
    pending: list[str]
    open_round: int | None
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def completed_rounds(self) -> int:
        return sum(1 for r in self.rounds if r.round > 0 and r.round != self.open_round)

    @property
    def last_round_spearman(self) -> float | None:
        closed = [r for r in self.rounds if r.round > 0 and r.round != self.open_round and r.spearman is not None]
        return closed[-1].spearman if closed else None


def campaign_status(campaign: "CampaignDir") -> CampaignStatus:
    """The campaign's :class:`CampaignStatus`, read from its directory."""
    frame = campaign.table()
    values = campaign.target_values(frame)
    best = int(np.argmax(values))
    pick = {**frame.iloc[best].to_dict(), "target": float(values[best])}
    open_round = campaign.open_round()
    summaries, failed = [], {}
    best_so_far = -math.inf
    last = max([0] + campaign.rounds_started())
    for r in range(0, last + 1):
        in_round = values[frame[ROUND].to_numpy() == r]
        proposed = 0
        spearman = None
        round_failed = 0
        if r > 0 and (campaign.round_dir(r) / "proposals.csv").is_file():
            proposals = campaign.proposals(r)
            proposed = len(proposals)
            errors = {s: o["error"] for s, o in campaign.outcomes(r).items() if "error" in o}
            failed.update(errors)
            round_failed = len(errors)
            spearman = _prospective_spearman(proposals, frame, values, r)
        if in_round.size:
            best_so_far = max(best_so_far, float(in_round.max()))
        summaries.append(RoundSummary(r, proposed, int(in_round.size), round_failed,
                                      float(in_round.max()) if in_round.size else math.nan, best_so_far, spearman))
    # The same open round for both: a proposal finishing in another thread meanwhile must not
    # give pending proposals without their round.
    return CampaignStatus(campaign.config, summaries, len(frame), pick, campaign._pending_in(open_round), open_round,
                          failed)


def _prospective_spearman(proposals: pd.DataFrame, frame: pd.DataFrame, values: np.ndarray, r: int) -> float | None:
    """Spearman of the round's predictions (made before evaluation) with the measured target."""
    if "predicted" not in proposals or proposals["predicted"].isna().all():
        return None
    measured = dict(zip(frame["arch"].astype(str)[frame[ROUND] == r], values[frame[ROUND].to_numpy() == r]))
    pairs = [(p, measured[s]) for s, p in zip(proposals["arch"].astype(str), proposals["predicted"]) if s in measured]
    if len(pairs) < 3:
        return None
    value = M.spearman(np.array([p for p, _ in pairs]), np.array([m for _, m in pairs]))
    return None if value is None or not math.isfinite(value) else float(value)
