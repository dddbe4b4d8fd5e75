"""Campaigns as the Loop page shows them: the list under ``state.campaigns_dir()``, each round's
proposals with their state, the best-so-far chart and the weak-ranking note (core.campaign.campaign does the work)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.campaign.files import ROUND
from core.campaign.names import CAMPAIGN_FILE
from core.campaign.campaign import Campaign
from core.campaign.status import CampaignStatus, RoundSummary
from app import state
from core.errors import InputError
from core.runs.listing import list_runs
from core.spaces import get_space
from core.targets.target import evaluate_target, parse_target

#: Below this Spearman a predictor's ranking is too weak to choose architectures by (the issue's line:
#: at ~0.3 a one-shot build is no better than random picks on the benchmarks).
WEAK_SPEARMAN = 0.4

def campaigns() -> dict[str, Campaign]:
    """path -> open campaign for every readable campaign directory, newest first."""
    return _scan()[0]


def damaged_campaigns() -> dict[str, str]:
    """name -> the one-line reason, for every campaign directory whose settings cannot be read."""
    return _scan()[1]


def _scan() -> tuple[dict[str, Campaign], dict[str, str]]:
    root = state.campaigns_dir()
    if not root.is_dir():
        return {}, {}
    found, damaged = [], {}
    for path in root.iterdir():
        if path.name.startswith(".") or not (path / CAMPAIGN_FILE).exists():
            continue
        try:
            found.append((path.stat().st_mtime, Campaign.open(path)))
        except (InputError, OSError, TypeError) as err:  # another version's format, a half-copied or tampered folder
            damaged[path.name] = str(err)
    return {str(c.path): c for _, c in sorted(found, key=lambda pair: pair[0], reverse=True)}, damaged


def campaign_label(campaign: Campaign) -> str:
    config = campaign.config
    where = config.space + (f"/{config.dataset}" if config.dataset else "")
    return f"{campaign.path.name}  ·  {where}  ·  {config.target}  ·  {config.method}"


def target_of(campaign: Campaign, frame: pd.DataFrame) -> np.ndarray:
    """The campaign's target for every row of ``frame`` (NaN where it is not finite), row-aligned."""
    values = evaluate_target(frame, parse_target(campaign.config.target, list(campaign.config.metric_columns)))
    full = np.full(len(frame), np.nan)
    full[np.asarray(values.kept, dtype=bool)] = values.values
    return full


def current_round(campaign: Campaign, status: CampaignStatus) -> int | None:
    """The open round, else the last round proposed, else None (only the initial table)."""
    if status.open_round is not None:
        return status.open_round
    started = campaign.rounds_started()
    return started[-1] if started else None


def round_run_spearman(campaign: Campaign, r: int | None) -> float | None:
    """The Spearman in the metrics of the predictor trained for round ``r`` (None without one). A
    campaign trains on every label (no validation split), so this is its training fit, never shown
    as held-out quality: when even that is weak, its ranking of new architectures is weaker still."""
    if r is None:
        return None
    found = [s for s in list_runs(campaign.round_dir(r)) if s.name == "run"]
    value = found[0].spearman if found else None
    return None if value is None or not math.isfinite(value) else float(value)


def weak_ranking_note(prospective: RoundSummary | None, fit: float | None, r: int | None = None) -> str | None:
    """A plain warning when the loop's predictor ranks weakly, else None. ``prospective``: the last closed
    round with a predicted-vs-measured Spearman (the honest, out-of-sample one; the note names that
    round and its count); ``fit``: round ``r``'s run's Spearman on its own training table."""
    if prospective is not None and prospective.spearman is not None and prospective.spearman < WEAK_SPEARMAN:
        how = (f"round {prospective.round}'s predictions for its {prospective.spearman_n} proposals, made before "
               f"they were evaluated, have Spearman {prospective.spearman:.2f} with what they measured")
    elif fit is not None and fit < WEAK_SPEARMAN:
        how = (f"the predictor trained for round {r} ranks even its own training table (a training fit, not "
               f"held out) with Spearman {fit:.2f}")
    else:
        return None
    return (f"**The predictor's ranking is weak**: {how} (below {WEAK_SPEARMAN}). At this correlation its "
            "predicted values say little about which architecture is better, and a one-shot build from it is "
            "no better than random picks. The loop's evaluations are what make the result reliable: the pick "
            "below is the best *measured* architecture, and every round adds measured labels where the search "
            "is looking, for the next predictor to learn from.")


def best_so_far_chart(status: CampaignStatus) -> go.Figure:
    rounds = [r.round for r in status.rounds]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rounds, y=[r.best_so_far for r in status.rounds], mode="lines+markers",
                             name="best so far", line=dict(width=3)))
    fig.add_trace(go.Scatter(x=rounds, y=[None if math.isnan(r.best) else r.best for r in status.rounds],
                             mode="markers", name="best of the round", marker=dict(size=9, symbol="diamond")))
    target = status.config.target
    column = target[1:] if target.startswith("-") else target
    label = get_space(status.config.space).metric_label(column)  # a metric's unit: `latency (s)`
    y_title = target if label == column else target[: len(target) - len(column)] + label
    fig.update_layout(title=f"Best {target} so far, by round", xaxis_title="round (0: the initial table)",
                      yaxis_title=y_title,
                      height=320, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    # Whole rounds from 0, one more than done: a new campaign's lone round-0 point otherwise sits on an
    # axis of fractional rounds (-1 .. 1 in steps of 0.5) and a y range of ± nothing around it.
    fig.update_xaxes(dtick=1, range=[-0.5, max(rounds + [0]) + 1.5])
    values = [r.best_so_far for r in status.rounds] + [r.best for r in status.rounds if not math.isnan(r.best)]
    if values and max(values) - min(values) < 1e-12:
        pad = max(abs(values[0]) * 0.05, 1e-3)
        fig.update_yaxes(range=[values[0] - pad, values[0] + pad])
    return fig


def rounds_frame(status: CampaignStatus) -> pd.DataFrame:
    return pd.DataFrame([{
        "round": r.round, "proposed": r.proposed, "evaluated": r.evaluated, "failed": r.failed,
        "best of round": None if math.isnan(r.best) else r.best, "best so far": r.best_so_far,
        "Spearman": r.spearman, "n": r.spearman_n if r.spearman is not None else None,
    } for r in status.rounds])


def round_frame(campaign: Campaign, r: int, table: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """Round ``r``'s proposals with their predicted target, their state and, once known, their measured one."""
    proposals = campaign.proposals(r)
    in_round = table[ROUND].to_numpy() == r
    measured = dict(zip(table["arch"].astype(str)[in_round], values[in_round]))
    outcomes = campaign.outcomes(r)
    fresh = [{"arch": s, **o["metrics"]} for s, o in outcomes.items() if "metrics" in o and s not in measured]
    if fresh:  # evaluated here, not yet appended (the round closes when all are done)
        frame = pd.DataFrame(fresh)
        measured.update(zip(frame["arch"], target_of(campaign, frame)))
    states = []
    for spec in proposals["arch"].astype(str):
        if spec in measured:
            states.append("evaluated")
        elif "error" in outcomes.get(spec, {}):
            states.append(f"failed: {outcomes[spec]['error']}")
        else:
            states.append("pending")
    return pd.DataFrame({"#": np.arange(1, len(proposals) + 1), "arch": proposals["arch"].astype(str),
                         "predicted": proposals["predicted"], "state": states,
                         "measured": [measured.get(s, np.nan) for s in proposals["arch"].astype(str)]})
