"""Loop: AutoBuild as a campaign. Retrain on everything measured, propose a round, evaluate it, repeat.

Why a loop and not one build: a one-shot build trusts the predictor's ranking, and with a few hundred
labels that ranking is often weak (a held-out Spearman under 0.4 picks about as well as random
sampling). A campaign measures what the predictor proposes and retrains on it each round, so its pick
is the best *measured* architecture, and the new labels lie exactly where the search is looking.

A campaign is a directory (core.campaign) under ``state.campaigns_dir()``: the page can be closed and
the server restarted mid-round, and the campaign continues where it was. Proposing (which trains the
predictor: minutes) and evaluating run as background jobs (app.state.Job) with live progress;
evaluating can be cancelled. Everything computational is ``core``; this page only calls it and renders.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from core.campaign import CAMPAIGN_FILE, ROUND, SOURCE, Campaign, CampaignStatus
from core.errors import InputError
from core.evaluators import EvaluationError, ExternalEvaluator, LookupEvaluator, MeasureEvaluator
from core.evaluators.measure import MEASURED_COLUMNS
from core.runs import list_runs
from core.searchers import DEFAULT_METHOD, SEARCHERS, campaign_methods
from core.spaces import get_space
from core.tables import FORMATS, ValidatedTable, validate_table
from core.targets import evaluate_target, parse_target

#: Below this Spearman a predictor's ranking is too weak to choose architectures by (at ~0.3 a one-shot
#: build is no better than random picks on the benchmarks).
WEAK_SPEARMAN = 0.4

#: What the method select box shows; the default (best on benchmarks/results/build_quality_*.md) first,
#: the paper's straight build second.
#: The others show the searcher's own description.
METHOD_LABELS = {
    DEFAULT_METHOD: "AutoBuild-guided evolution (recommended)",
    "autobuild": "AutoBuild (paper, one shot)",
}

EXTERNAL_LABEL = "I evaluate them myself"
SPEARMAN_HELP = ("how the round's predictor ranked its proposals, before they were evaluated, against what they "
                 "measured (range-restricted: all were predicted good).")


def method_options() -> list[str]:
    methods = campaign_methods()
    first = [m for m in (DEFAULT_METHOD, "autobuild") if m in methods]
    return first + [m for m in methods if m not in first]


def method_label(name: str) -> str:
    label = METHOD_LABELS.get(name) or (SEARCHERS[name].description if name in SEARCHERS else "")
    return f"{label} · {name}" if label else name


# ----------------------------------------------------------------------------- new campaigns

def evaluator_options(table: ValidatedTable, dataset: str | None) -> dict[str, str]:
    """name -> label of the evaluators that fit the current table: look-up when its space ships a
    table for its dataset, measure when the space builds networks (OFA), and always the user."""
    space = get_space(table.space_name)
    options = {}
    if space.has_lookup and dataset in space.datasets:
        options["lookup"] = f"Look-up in the {space.name}/{dataset} benchmark (instant, the real trained metrics)"
    if space.can_measure:
        options["measure"] = "Measure here: build each network and time it (about a second each)"
    options["external"] = EXTERNAL_LABEL
    return options


def make_evaluator(choice: str, table: ValidatedTable, dataset: str | None, device: str):
    """(evaluator, the table's metric columns it keeps). An automatic evaluator must produce every
    metric column of the campaign, so columns it cannot produce (the ``threads`` setting of an OFA
    latency table, a column a benchmark lacks) are left out of the campaign rather than refused."""
    columns = list(table.metric_columns)
    if choice == "lookup":
        available = set(state.lookup_table(table.space_name, dataset).columns)
        kept = [c for c in columns if c in available]
        if not kept:
            raise InputError(f"the {table.space_name}/{dataset} benchmark has none of the table's metric columns "
                             f"{columns}; choose '{EXTERNAL_LABEL}'")
        return LookupEvaluator(table.space_name, dataset, kept), kept
    if choice == "measure":
        kept = [c for c in columns if c in MEASURED_COLUMNS]
        if not kept:
            raise InputError(f"measuring gives {list(MEASURED_COLUMNS)}, none of the table's metric columns "
                             f"{columns}; choose '{EXTERNAL_LABEL}'")
        return MeasureEvaluator(table.space_name, device=device), kept
    return ExternalEvaluator(table.space_name, columns), columns


def keep_columns(table: ValidatedTable, kept: list[str]) -> ValidatedTable:
    if kept == list(table.metric_columns):
        return table
    return validate_table(table.frame[["arch", *kept]], table.space_name, source=table.source, metric_columns=kept)


def auto_campaign_name(space: str, dataset: str | None, target: str) -> str:
    slug = state.safe_run_name(target)[:24] or "target"
    return f"{space}-{dataset or 'table'}-{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


def new_campaign_form() -> None:
    """Start a campaign from the current table and target (Data & target page) in one click."""
    table = state.current_table()
    target = state.current_target()
    dataset = st.session_state.get(state.DATASET)
    st.markdown(f"From table `{st.session_state.get(state.TABLE_LABEL)}` ({len(table)} evaluated architectures, "
                f"space `{table.space_name}`) · target `{target}` (maximised) — change them on the Data & target "
                "page.")
    evaluators = evaluator_options(table, dataset)
    devices = ["cpu"] + (["cuda"] if _cuda_available() else [])
    with st.form("loop_new_form"):
        cols = st.columns([2, 2])
        with cols[0]:
            method = st.selectbox("Method", method_options(), format_func=method_label, key="loop_new_method",
                                  help="What proposes each round. AutoBuild-guided evolution is the best on the "
                                       "benchmarks; the paper's one-shot build proposes the top of the reduced "
                                       "space, retrained each round.")
        with cols[1]:
            choice = st.radio("Who evaluates the proposals", list(evaluators), format_func=evaluators.get,
                              key="loop_new_evaluator",
                              help="Measured timings compare only with timings from the same machine: measure "
                                   "here only when the table was measured here too. Otherwise evaluate them "
                                   "yourself where the table was measured, and upload the results.")
        cols = st.columns([2, 1, 1, 1])
        with cols[0]:
            name = st.text_input("Campaign name", key="loop_new_name", placeholder="automatic",
                                 help=f"A directory under {state.campaigns_dir()}; letters, digits, . _ -")
        with cols[1]:
            epochs = st.number_input("Epochs per round", min_value=1, max_value=2000, value=200, step=10,
                                     key="loop_new_epochs",
                                     help="Predictor training epochs at the start of each round (a small table "
                                          "is trained for at least 1,000 optimiser steps whatever this says).")
        with cols[2]:
            seed = st.number_input("Seed", min_value=0, value=0, step=1, key="loop_new_seed")
        with cols[3]:
            device = st.selectbox("Measure on", devices, key="loop_new_device",
                                  help="Only for 'Measure here'.") if "measure" in evaluators else "cpu"
        submitted = st.form_submit_button("Start campaign", type="primary", icon=":material/rocket_launch:")
    if not submitted:
        return
    out_name = state.safe_run_name(name) if name.strip() else auto_campaign_name(table.space_name, dataset, target)
    if not out_name:
        st.error("the campaign name needs at least one letter or digit")
        return
    out = state.campaigns_dir() / out_name
    try:
        evaluator, kept = make_evaluator(choice, table, dataset, device)
        Campaign.create(out, keep_columns(table, kept), target, dataset=dataset, method=method,
                        evaluator=evaluator, seed=int(seed), epochs=int(epochs))
    except (InputError, EvaluationError) as err:  # InputError is a ValueError: bad names, targets, options
        st.error(state.one_line(err))
        return
    left_out = [c for c in table.metric_columns if c not in kept]
    st.session_state[state.CAMPAIGN] = str(out)
    st.session_state.pop("_w_loop_campaign", None)
    st.session_state[state.NOTICE] = ("success", f"Campaign `{out.name}` started from {len(table)} architectures"
                                      + (f" (left out {left_out}: {evaluator.name} cannot produce them)"
                                         if left_out else "") + ". Propose its first round below.")
    st.rerun()


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ------------------------------------------------------------------------ picking a campaign

def campaigns() -> dict[str, Campaign]:
    """path -> open campaign for every readable campaign directory, newest first."""
    root = state.campaigns_dir()
    if not root.is_dir():
        return {}
    found = []
    for path in root.iterdir():
        if path.name.startswith(".") or not (path / CAMPAIGN_FILE).is_file():
            continue
        try:
            found.append((path.stat().st_mtime, Campaign.open(path)))
        except (InputError, OSError, TypeError):  # another version's format, a half-copied directory
            continue
    return {str(c.path): c for _, c in sorted(found, key=lambda pair: pair[0], reverse=True)}


def campaign_label(campaign: Campaign) -> str:
    config = campaign.config
    where = config.space + (f"/{config.dataset}" if config.dataset else "")
    return f"{campaign.path.name}  ·  {where}  ·  {config.target}  ·  {config.method}"


def campaign_picker(available: dict[str, Campaign]) -> Campaign | None:
    if not available:
        return None
    paths = list(available)
    current = st.session_state.get(state.CAMPAIGN)
    index = paths.index(current) if current in paths else 0
    choice = st.selectbox("Campaign", paths, index=index, key="_w_loop_campaign",
                          format_func=lambda p: campaign_label(available[p]))
    st.session_state[state.CAMPAIGN] = choice
    return available[choice]


# ---------------------------------------------------------------------------- the campaign

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
    campaign trains on every label (no validation split), so this is its fit to its own table: when
    even that is weak, its ranking of new architectures is weaker still."""
    if r is None:
        return None
    found = [s for s in list_runs(campaign.round_dir(r)) if s.name == "run"]
    value = found[0].spearman if found else None
    return None if value is None or not math.isfinite(value) else float(value)


def weak_ranking_note(prospective: float | None, fit: float | None, r: int | None = None) -> str | None:
    """A plain warning when the loop's predictor ranks weakly, else None. ``prospective``: the last closed
    round's predicted-vs-measured Spearman (the honest one); ``fit``: the current round's run's own."""
    if prospective is not None and prospective < WEAK_SPEARMAN:
        how = (f"its predictions for the last round's proposals, made before they were evaluated, have "
               f"Spearman {prospective:.2f} with what they measured")
    elif fit is not None and fit < WEAK_SPEARMAN:
        how = f"the predictor trained for round {r} ranks even its own training table with Spearman {fit:.2f}"
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
    fig.update_layout(title=f"Best {status.config.target} so far, by round", xaxis_title="round (0: the initial table)",
                      yaxis_title=status.config.target, height=320, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(dtick=1)
    return fig


def rounds_frame(status: CampaignStatus) -> pd.DataFrame:
    return pd.DataFrame([{
        "round": r.round, "proposed": r.proposed, "evaluated": r.evaluated, "failed": r.failed,
        "best of round": None if math.isnan(r.best) else r.best, "best so far": r.best_so_far,
        "Spearman": r.spearman,
    } for r in status.rounds])


def show_status(campaign: Campaign, status: CampaignStatus) -> None:
    cols = st.columns(4)
    cols[0].metric("Rounds completed", status.completed_rounds)
    cols[1].metric("Evaluated", f"{status.evaluated:,}")
    cols[2].metric(f"Best {status.config.target}", f"{status.pick['target']:.4g}")
    cols[3].metric("Pending", len(status.pending), help="Proposals of the open round still awaiting a result.")
    r = current_round(campaign, status)
    note = weak_ranking_note(status.last_round_spearman, round_run_spearman(campaign, r), r)
    if note:
        st.warning(note, icon=":material/warning:")
    cols = st.columns([3, 2])
    with cols[0]:
        st.plotly_chart(best_so_far_chart(status), key="loop_best_curve")
    with cols[1]:
        st.dataframe(rounds_frame(status), hide_index=True, key="loop_rounds",
                     column_config={c: st.column_config.NumberColumn(format="%.4g")
                                    for c in ("best of round", "best so far")}
                     | {"Spearman": st.column_config.NumberColumn(format="%.2f", help=SPEARMAN_HELP)})
        st.caption(f"Spearman: {SPEARMAN_HELP}")
    show_pick(campaign, status)


def show_pick(campaign: Campaign, status: CampaignStatus) -> None:
    pick = status.pick
    st.subheader("The pick")
    st.caption(f"The evaluated architecture with the best target (round {pick[ROUND]}, {pick[SOURCE]}).")
    st.code(str(pick["arch"]), language=None)
    metrics = [("target", pick["target"])] + [(c, pick[c]) for c in campaign.config.metric_columns]
    cols = st.columns(min(len(metrics), 6))
    for i, (name, value) in enumerate(metrics):
        cols[i % len(cols)].metric(name if name != "target" else f"target {campaign.config.target}", f"{value:.4g}")


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


def show_round(campaign: Campaign, status: CampaignStatus, table: pd.DataFrame, values: np.ndarray) -> None:
    r = current_round(campaign, status)
    if r is None:
        st.info("No round yet: press **Propose** to retrain the predictor on the initial table and propose the "
                "first round.")
        return
    frame = round_frame(campaign, r, table, values)
    where = "open: awaiting results" if status.open_round == r else "closed"
    st.subheader(f"Round {r} ({where})")
    st.dataframe(frame, hide_index=True, key="loop_round_table", column_config={
        "arch": st.column_config.TextColumn("architecture", width=330),
        "predicted": st.column_config.NumberColumn(f"predicted {campaign.config.target}", format="%.4g"),
        "measured": st.column_config.NumberColumn(f"measured {campaign.config.target}", format="%.4g"),
    })
    if frame["predicted"].isna().all():
        st.caption("This round's method uses no predictor, so nothing was predicted.")


# ------------------------------------------------------------------------------- actions

def propose_controls(campaign: Campaign, status: CampaignStatus, busy: bool) -> None:
    cols = st.columns([1, 2, 1])
    with cols[0]:
        n = st.number_input("N: proposals per round", min_value=1, max_value=500, step=1,
                            key=state.remember("ab_loop_n", 8))
        state.keep("ab_loop_n", n)
    drop = False
    with cols[1]:
        st.write("")
        if status.pending:
            drop = st.checkbox(f"Abandon the {len(status.pending)} pending proposal(s)", key="loop_drop_pending",
                               help="Close the open round with what has a result and propose anew.")
    with cols[2]:
        st.write("")
        clicked = st.button("Propose the next round", type="primary", icon=":material/autorenew:",
                            disabled=busy or (bool(status.pending) and not drop), key="loop_propose",
                            help=f"Retrain the predictor on all {status.evaluated} evaluated architectures, "
                                 f"then propose N new ones with {campaign.config.method}.")
    if clicked:
        state.start_propose(str(campaign.path), int(n), drop_pending=drop)
        st.rerun()


def evaluate_controls(campaign: Campaign, status: CampaignStatus, busy: bool) -> None:
    evaluator = campaign.evaluator()
    st.caption(f"Evaluator: {evaluator.describe()}.")
    if st.button(f"Evaluate the {len(status.pending)} pending", type="primary", icon=":material/play_arrow:",
                 disabled=busy, key="loop_evaluate"):
        state.start_evaluate(str(campaign.path))
        st.rerun()


def external_controls(campaign: Campaign, status: CampaignStatus) -> None:
    """Download the pending proposals with empty metric columns; upload them filled in."""
    columns = list(campaign.config.metric_columns)
    r = status.open_round
    pending = pd.DataFrame({"arch": status.pending})
    proposals = campaign.proposals(r)
    sheet = pending.merge(proposals, on="arch", how="left")
    for column in columns:
        sheet[column] = np.nan
    st.download_button(f"Download the {len(status.pending)} pending proposals (CSV)", sheet.to_csv(index=False),
                       file_name=f"{campaign.path.name}-round{r:03d}-proposals.csv", mime="text/csv",
                       icon=":material/download:", key="loop_download_proposals")
    st.caption(f"Evaluate them, fill in {', '.join(columns)} and upload the file (only the rows you evaluated; "
               "the rest stay pending).")


def upload_controls(campaign: Campaign, busy: bool) -> None:
    """Ingest measured results. The uploader is cleared after a success (a new key), so the next rerun
    does not try to append the same rows again; disabled while a job holds the campaign's lock."""
    counter = st.session_state.setdefault("ab_loop_upload_counter", 0)
    types = sorted({ext.lstrip(".").split(".")[-1] for ext in FORMATS})
    cols = st.columns([3, 2])
    with cols[1]:
        allow = st.checkbox("Also accept architectures that were never proposed", key="loop_allow_unproposed",
                            help="Rows you evaluated on your own; they join the table marked 'uploaded'.")
    with cols[0]:
        upload = st.file_uploader("Upload measured results", type=types, key=f"loop_upload_{counter}", disabled=busy,
                                  help=f"arch plus every metric column: {', '.join(campaign.config.metric_columns)}")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        appended = campaign.ingest(data, name=upload.name, allow_unproposed=allow)
    except (InputError, EvaluationError) as err:
        st.error(state.one_line(err))
        return
    except Exception as err:  # noqa: BLE001 - a file the readers choke on is the file's problem: one line
        st.error(f"{upload.name}: could not be read ({type(err).__name__}: {state.one_line(err)})")
        return
    st.session_state["ab_loop_upload_counter"] = counter + 1
    left = len(campaign.pending())
    st.session_state[state.NOTICE] = ("success", f"Appended {appended} evaluated architectures from {upload.name}"
                                      + (f"; {left} proposal(s) still await results." if left
                                         else "; the round is complete."))
    st.rerun()


def history(campaign: Campaign, table: pd.DataFrame, values: np.ndarray) -> None:
    st.subheader("History")
    frame = table.copy()
    frame.insert(1, "target", values)
    st.dataframe(frame, hide_index=True, key="loop_history", column_config={
        "arch": st.column_config.TextColumn("architecture", width=330),
        "target": st.column_config.NumberColumn(f"target {campaign.config.target}", format="%.4g"),
    })
    st.download_button("Download the history (CSV)", table.to_csv(index=False),
                       file_name=f"{campaign.path.name}-history.csv", mime="text/csv", icon=":material/download:",
                       key="loop_download_history")
    st.caption(f"Every evaluated architecture, round 0 being the initial table; stored in `{campaign.path}`.")


# ------------------------------------------------------------------------------- jobs

@st.fragment(run_every=1.0)
def live_progress(job_id: str) -> None:
    """The running job's progress (and Cancel for evaluations); reruns the page when it ends."""
    job = state.get_job(job_id)
    if job is None:
        return
    if job.finished:
        st.rerun()
    what = "Proposing" if job.kind == "propose" else "Evaluating"
    st.progress(min(1.0, job.fraction), text=f"{what} in `{job.label}` · {job.stage} · {job.elapsed:.0f} s")
    if job.kind == "evaluate":
        stopping = job.stop.is_set()
        st.button("Cancelling after this evaluation..." if stopping else "Cancel", icon=":material/stop:",
                  disabled=stopping, on_click=job.stop.set, key="loop_cancel",
                  help="Stops after the evaluation in flight; every finished one is already recorded and the "
                       "rest stay pending.")
    else:
        st.caption("Training the predictor takes a minute or more; it cannot be interrupted, but the page can be "
                   "left: the round is saved when it is done.")


def finish_job() -> None:
    job = state.get_job(st.session_state.get(state.LOOP_JOB))
    kind = job.kind if job is not None else "campaign step"
    job = state.collect_finished_job(state.LOOP_JOB, kind)
    if job is None:
        return
    st.session_state[state.CAMPAIGN] = job.key
    if job.kind == "propose":
        message = f"Proposed {len(job.result)} architectures in {job.elapsed:.1f} s."
    elif job.status == "stopped":
        message = f"Cancelled after {job.result} evaluation(s); the rest stay pending."
    else:
        message = f"Evaluated {job.result} architecture(s) in {job.elapsed:.1f} s."
    st.session_state[state.NOTICE] = ("success", message)


def show_campaign(campaign: Campaign, job) -> None:
    busy = job is not None and not job.finished
    try:
        status = campaign.status()
        table = campaign.table()
        values = target_of(campaign, table)
        automatic = campaign.evaluator().automatic
    except (InputError, EvaluationError, OSError) as err:
        st.error(f"{campaign.path}: {state.one_line(err)}")
        return
    config = campaign.config
    st.caption(f"`{config.space}`" + (f"/{config.dataset}" if config.dataset else "") + f" · target `{config.target}`"
               f" · method {method_label(config.method)} · seed {config.seed} · {config.epochs} epoch"
               + ("s" if config.epochs != 1 else "") + " per round")
    show_status(campaign, status)
    st.divider()
    show_round(campaign, status, table, values)
    if status.pending and automatic:
        evaluate_controls(campaign, status, busy)
    elif status.pending:
        external_controls(campaign, status)
    if not automatic:
        upload_controls(campaign, busy)
    propose_controls(campaign, status, busy)
    st.divider()
    history(campaign, table, values)


def render() -> None:
    st.title("Loop")
    st.caption("AutoBuild as a campaign: retrain the predictor on everything evaluated, propose a round, evaluate "
               "it (here or yourself), and repeat. The pick is the best measured architecture, so a weak predictor "
               "costs evaluations, not the result.")
    finish_job()
    notice = state.pop_notice()
    if notice:
        (st.error if notice[0] == "error" else st.success)(notice[1])
    job = state.get_job(st.session_state.get(state.LOOP_JOB))
    if job is not None and not job.finished:
        live_progress(job.id)
    available = campaigns()
    with st.expander("Start a new campaign", expanded=not available, icon=":material/add:"):
        new_campaign_form()
    campaign = campaign_picker(available)
    if campaign is None:
        st.info(f"No campaign yet in `{state.campaigns_dir()}`: start one above from the current table and target.")
        return
    show_campaign(campaign, job)


if __name__ == "__main__":
    render()
