"""Loop: AutoBuild as a campaign. Retrain on everything measured, propose a round, evaluate it, repeat.

Why a loop and not one build: a one-shot build trusts the predictor's ranking, and with a few hundred
labels that ranking is often weak (a held-out Spearman under 0.4 picks about as well as random
sampling). A campaign measures what the predictor proposes and retrains on it each round, so its pick
is the best *measured* architecture, and the new labels lie exactly where the search is looking.

A campaign is a directory (core.campaign.campaign) under ``state.campaigns_dir()``: the page can be closed and
the server restarted mid-round, and the campaign continues where it was. Proposing (which trains the
predictor: minutes) and evaluating run as background jobs (app.jobs.launch.Job) with live progress;
evaluating can be cancelled. Everything computational is ``core``; this page only calls it and renders.
The action controls (propose, evaluate, download and upload) are app/views/loop_actions.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import messages, state, widgets

from app import jobs
from app.views.loop_data import (best_so_far_chart, campaign_label, campaigns, current_round, damaged_campaigns,
                                 round_frame, round_run_spearman, rounds_frame, target_of, weak_ranking_note)
from app.views.loop_actions import (evaluate_controls, external_controls, propose_controls,
                                  upload_controls)
from app.views.loop_setup import (auto_campaign_name, evaluator_options, keep_columns,
                                make_evaluator, method_label, method_options)
from core.campaign.files import ROUND, SOURCE
from core.campaign.campaign import Campaign
from core.campaign.status import CampaignStatus
from core.errors import InputError
from core.evaluators import EvaluationError
from core.files.table_io import csv_text

SPEARMAN_HELP = ("the campaign's out-of-sample figure: how the round's predictor ranked its proposals, before they "
                 "were evaluated, against what they measured; n is how many proposals it pairs. It is "
                 "range-restricted (all were predicted good), so it can fall in later rounds as proposals crowd the "
                 "top of the space. Each round's predictor is trained on every row, so no held-out figure exists "
                 "besides this one.")


# ----------------------------------------------------------------------------- new campaigns

def new_campaign_form() -> None:
    """Start a campaign from the current table and target (Data & target page) in one click."""
    table, target, dataset = widgets.table_in_use("From table", note=" (maximised)")
    evaluators = evaluator_options(table, dataset)
    devices = ["cpu"] + (["cuda"] if _cuda_available() else [])
    with st.form("loop_new_form"):
        cols = st.columns([2, 2])
        with cols[0]:
            method = st.selectbox("Method", method_options(table.space_name), format_func=method_label,
                                  key="loop_new_method",
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
    out_name = messages.safe_run_name(name) if name.strip() else auto_campaign_name(table.space_name, dataset, target)
    if not out_name:
        st.error("the campaign name needs at least one letter or digit")
        return
    out = state.campaigns_dir() / out_name
    try:
        evaluator, kept = make_evaluator(choice, table, dataset, device)
        out = Campaign.create(out, keep_columns(table, kept), target, dataset=dataset, method=method,
                              evaluator=evaluator, seed=int(seed), epochs=int(epochs), unique=not name.strip()).path
    except (InputError, EvaluationError) as err:  # bad names, targets, options
        st.error(messages.one_line(err))
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

def show_status(campaign: Campaign, status: CampaignStatus) -> None:
    cols = st.columns(4)
    cols[0].metric("Rounds completed", status.completed_rounds)
    cols[1].metric("Evaluated", f"{status.evaluated:,}")
    cols[2].metric(f"Best {status.config.target}", f"{status.pick['target']:.4g}")
    cols[3].metric("Pending", len(status.pending), help="Proposals of the open round still awaiting a result.")
    r = current_round(campaign, status)
    note = weak_ranking_note(status.last_spearman_round, round_run_spearman(campaign, r), r)
    if note:
        st.warning(note, icon=":material/warning:")
    # One above the other: side by side, the rounds table put the Spearman column off screen at 1400 px.
    st.plotly_chart(best_so_far_chart(status), key="loop_best_curve")
    st.dataframe(rounds_frame(status), hide_index=True, key="loop_rounds",
                 column_config={c: st.column_config.NumberColumn(format="%.4g")
                                for c in ("best of round", "best so far")}
                 | {"Spearman": st.column_config.NumberColumn("out-of-sample Spearman", format="%.2f",
                                                             help=SPEARMAN_HELP),
                    "n": st.column_config.NumberColumn("n", format="%d", help="proposals paired")})
    st.caption(f"Out-of-sample Spearman: {SPEARMAN_HELP}")
    if status.bad_rows:
        shown = "; ".join(f"row {row}: {why}" for row, why in list(status.bad_rows.items())[:5])
        st.warning(f"{len(status.bad_rows)} row(s) of the campaign's table cannot be used (written by an older "
                   f"version) and are left out of training, proposing and the pick: {shown}",
                   icon=":material/warning:")
    show_pick(campaign, status)


def show_pick(campaign: Campaign, status: CampaignStatus) -> None:
    pick = status.pick
    st.subheader("The pick")
    st.caption(f"The evaluated architecture with the best target (round {pick[ROUND]}, {pick[SOURCE]}).")
    st.code(str(pick["arch"]), language=None)
    metrics = [("target", pick["target"])] + [(c, pick[c]) for c in campaign.config.metric_columns]
    cols = st.columns(min(len(metrics), 6))
    for i, (name, value) in enumerate(metrics):
        cols[i % len(cols)].metric(campaign.space.metric_label(name) if name != "target"
                                   else f"target {campaign.config.target}", f"{value:.4g}")


def show_round(campaign: Campaign, status: CampaignStatus, table: pd.DataFrame, values: np.ndarray) -> None:
    r = current_round(campaign, status)
    if r is None:
        st.info("No round yet: press **Propose** to retrain the predictor on the initial table and propose the "
                "first round.")
        return
    frame = round_frame(campaign, r, table, values)
    where = "open: awaiting results" if status.open_round == r else "closed"
    st.subheader(f"Round {r} ({where})")
    st.dataframe(frame, hide_index=True, key="loop_round_table", column_config=widgets.metric_columns(
        frame.columns, campaign.config.space) | {
        "arch": st.column_config.TextColumn("architecture", width=330),
        "predicted": st.column_config.NumberColumn(f"predicted {campaign.config.target}", format="%.4g"),
        "measured": st.column_config.NumberColumn(f"measured {campaign.config.target}", format="%.4g"),
    })
    if frame["predicted"].isna().all():
        st.caption("This round's method uses no predictor, so nothing was predicted.")


def history(campaign: Campaign, table: pd.DataFrame, values: np.ndarray) -> None:
    st.subheader("History")
    frame = table.copy()
    frame.insert(1, "target", values)
    st.dataframe(frame, hide_index=True, key="loop_history", column_config=widgets.metric_columns(
        frame.columns, campaign.config.space) | {
        "arch": st.column_config.TextColumn("architecture", width=330),
        "target": st.column_config.NumberColumn(f"target {campaign.config.target}", format="%.4g"),
    })
    st.download_button("Download the history (CSV)", csv_text(table),
                       file_name=f"{campaign.path.name}-history.csv", mime="text/csv", icon=":material/download:",
                       key="loop_download_history")
    st.caption(f"Every evaluated architecture, round 0 being the initial table; stored in `{campaign.path}`.")


# ------------------------------------------------------------------------------- jobs

def draw_step(job: jobs.Job) -> None:
    """The running campaign step's progress (and Cancel for evaluations)."""
    what = "Proposing" if job.kind == "propose" else "Evaluating"
    st.progress(min(1.0, job.fraction), text=f"{what} in `{job.label}` · {job.stage} · {job.elapsed:.0f} s")
    if job.kind == "evaluate":
        widgets.stop_button(job, "Cancel", "Cancelling after this evaluation...", "loop_cancel",
                            "Stops after the evaluation in flight; every finished one is already recorded and the "
                            "rest stay pending.")
    else:
        st.caption("Training the predictor takes a minute or more; it cannot be interrupted, but the page can be "
                   "left: the round is saved when it is done.")


def finish_job() -> None:
    job = jobs.session_job(jobs.LOOP_JOB)
    kind = job.kind if job is not None else "campaign step"
    job = jobs.collect_finished_job(jobs.LOOP_JOB, kind)
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
        st.error(f"{campaign.path}: {messages.one_line(err)}")
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
    widgets.directory_actions(campaign.path, "campaign", key="loop_campaign", busy=busy)


def render() -> None:
    st.title("Loop")
    st.caption("AutoBuild as a campaign: retrain the predictor on everything evaluated, propose a round, evaluate "
               "it (here or yourself), and repeat. The pick is the best measured architecture, so a weak predictor "
               "costs evaluations, not the result.")
    finish_job()
    widgets.show_notice()
    job = widgets.follow_job(jobs.LOOP_JOB, "The next round of", draw_step)
    available = campaigns()
    damaged = damaged_campaigns()
    if damaged:
        st.warning(f"{len(damaged)} campaign folder{'s' if len(damaged) != 1 else ''} in `{state.campaigns_dir()}` "
                   "cannot be used: " + "; ".join(f"{name}: {messages.one_line(InputError(why), limit=160)}"
                                                  for name, why in list(damaged.items())[:3])
                   + (" ..." if len(damaged) > 3 else ""))
    with st.expander("Start a new campaign", expanded=not available, icon=":material/add:"):
        new_campaign_form()
    campaign = campaign_picker(available)
    if campaign is None:
        st.info(f"No campaign yet in `{state.campaigns_dir()}`: start one above from the current table and target.")
        return
    show_campaign(campaign, job)


if __name__ == "__main__":
    render()
