"""The Loop page's actions on a campaign (app/views/loop.py): propose the next round, evaluate the pending
proposals here, or download them and upload their measured results (core.campaign.campaign does the work)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import jobs, messages, state
from core.campaign.campaign import Campaign
from core.campaign.status import CampaignStatus
from core.errors import InputError
from core.evaluators import EvaluationError
from core.files.table_io import FORMATS
from core.files.table_io import csv_text


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
        jobs.start_propose(str(campaign.path), int(n), drop_pending=drop)
        st.rerun()


def evaluate_controls(campaign: Campaign, status: CampaignStatus, busy: bool) -> None:
    evaluator = campaign.evaluator()
    st.caption(f"Evaluator: {evaluator.describe()}.")
    if st.button(f"Evaluate the {len(status.pending)} pending", type="primary", icon=":material/play_arrow:",
                 disabled=busy, key="loop_evaluate"):
        jobs.start_evaluate(str(campaign.path))
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
    st.download_button(f"Download the {len(status.pending)} pending proposals (CSV)", csv_text(sheet),
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
        st.error(messages.one_line(err))
        return
    except Exception as err:  # noqa: BLE001 - a file the readers choke on is the file's problem: one line
        st.error(f"{upload.name}: could not be read ({type(err).__name__}: {messages.one_line(err)})")
        return
    st.session_state["ab_loop_upload_counter"] = counter + 1
    left = len(campaign.pending())
    st.session_state[state.NOTICE] = ("success", f"Appended {appended} evaluated architectures from {upload.name}"
                                      + (f"; {left} proposal(s) still await results." if left
                                         else "; the round is complete."))
    st.rerun()
