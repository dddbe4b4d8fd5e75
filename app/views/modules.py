"""Modules: per-hop module rankings, 0-hop feature importance, score distributions and an architecture graph."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import jobs, messages, run_cache, state, widgets
from core import viz
from core.errors import InputError
from core.runs.run import Run
from core.scoring.modules import ORDER_RULE, RELIABLE

ALL = "(all)"
#: This session's refits: (run path, stamp) -> (refits, counts per (hop, signature)) of the last one finished.
REFITS = "ab_mod_refits"


def ranking_section(scores, hops: int, refits: tuple[int, pd.Series] | None = None) -> tuple[int, pd.DataFrame]:
    """The ranking table of one hop, filtered by the root's unit/op and a text search; with ``refits``
    (their number and counts, :func:`refit_section`), a column of how often each module stayed in the top 10."""
    st.subheader("Module rankings")
    cols = st.columns([1, 2, 2])
    with cols[0]:
        hop = state.select("Hop", list(range(hops + 1)), "ab_mod_hop", 1 if hops >= 1 else 0,
                           help="A hop-h module is a node plus its ancestors up to h edges away.")
    ranking = scores.ranking(hop).copy()
    ranking["unit"] = ranking["description"].str.split(" <- ").str[0]
    stability = []
    if refits is not None:
        counts = refits[1]
        ranking["resample_top10"] = counts.reindex(pd.MultiIndex.from_frame(ranking[["hop", "signature"]])).to_numpy()
        stability = ["resample_top10"]
    with cols[1]:
        units = sorted(ranking["unit"].unique())
        chosen = st.multiselect("Unit / op of the module's root", units, key="ab_mod_units",
                                placeholder="all units")
    with cols[2]:
        text = st.text_input("Filter descriptions", key="ab_mod_text", placeholder="e.g. gcn <- gat")
    trust_notes(scores.reliability, hop)
    shown = ranking
    if chosen:
        shown = shown[shown["unit"].isin(chosen)]
    if text.strip():
        shown = shown[shown["description"].str.contains(text.strip(), case=False, regex=False)]
    members = int(ranking["members"].iloc[0]) if len(ranking) else 1
    st.dataframe(
        # No std column: a module's score is the same in every architecture (its L-hop neighbourhood is the
        # module), so core's std_score is 0 in every row; the spread shown is the members'.
        shown[["rank", "description", "unit", "estimate", "estimate_se", "estimate_low", "estimate_high",
               "architectures", "mean_target", "mean_score", "member_low", "member_high", "members_top10",
               *stability, "pool_architectures", "count", "signature"]],
        hide_index=True, height=300, key="ranking_table",
        column_config={
            "estimate": st.column_config.NumberColumn(
                "estimate", format="%.4g", help="the module's estimated mean target over the whole space"),
            "estimate_se": st.column_config.NumberColumn("± s.e.", format="%.2g",
                                                         help="the estimate's standard error"),
            "estimate_low": st.column_config.NumberColumn("members' low", format="%.4g",
                                                          help="the lowest of the ensemble members' own estimates"),
            "estimate_high": st.column_config.NumberColumn("members' high", format="%.4g",
                                                           help="the highest of the ensemble members' own estimates"),
            "architectures": st.column_config.NumberColumn("n", help="architectures of the table holding the module"),
            "mean_target": st.column_config.NumberColumn("mean target", format="%.4g",
                                                         help="the table's own mean target of those architectures"),
            "mean_score": st.column_config.NumberColumn("score", format="%.3f",
                                                        help="AutoBuild's standardised embedding-norm score"),
            "member_low": st.column_config.NumberColumn("score low", format="%.3f",
                                                        help="the lowest of the ensemble members' own scores"),
            "member_high": st.column_config.NumberColumn("score high", format="%.3f",
                                                         help="the highest of the ensemble members' own scores"),
            "members_top10": st.column_config.NumberColumn(
                f"top 10 in (of {members})", help="in how many members' own top 10 the module is"),
            "resample_top10": st.column_config.NumberColumn(
                f"top 10 in refits (of {refits[0] if refits else 0})",
                help="in how many refits of the predictor on random halves of the table the module stays in its "
                     "hop's top 10 (the table's part of the ranking's instability)"),
            "pool_architectures": st.column_config.NumberColumn(
                "pool n", help="architectures of the space (all of it, or a sample) holding the module, whose "
                "predictions the estimate averages"),
            "description": st.column_config.TextColumn("module", width="large"),
        })
    st.caption(f"{len(shown)} of {len(ranking)} modules at hop {hop}, in ranking order: {ORDER_RULE}. A module "
               "seen in few architectures, or on which the members disagree, has a large standard error. "
               "Scores are standardised, so hops are comparable; a module scores the same in every architecture "
               "that has it.")
    return hop, shown


def refit_section(path: str, stamp: float) -> None:
    """Refits of the predictor on halves of the table (stability selection), run as a background job."""
    job = jobs.session_job(jobs.REFIT_JOB)
    with st.expander("How much the ranking depends on the table: refits on halves of it",
                     expanded=job is not None and not job.finished):
        st.caption("The members above learn from the same table, so their agreement says how far another "
                   "training start moves the ranking. Refitting the predictor on random halves of the table "
                   "(stability selection) says how far other architectures of the space would: a module in the "
                   "top 10 in 9 of 10 refits stands on the table's evidence. Each refit is a training (about "
                   "10 s for 300 rows on two cores).")
        cols = st.columns([1, 1, 2])
        with cols[0]:
            resamples = st.number_input("Refits", min_value=2, max_value=100, step=1,
                                        key=state.remember("ab_mod_resamples", 10))
            state.keep("ab_mod_resamples", resamples)
        with cols[1]:
            st.write("")
            st.write("")
            clicked = st.button("Refit", icon=":material/shuffle:", key="refit_button",
                                disabled=job is not None and not job.finished,
                                help="Train the run's predictor again on random halves of its table")
        if clicked:
            jobs.start_refits(path, stamp, int(resamples))
            st.rerun()
        if job is not None and not job.finished:
            widgets.live_job(job.id, "Refits of", draw_refits)


def draw_refits(job: jobs.Job) -> None:
    st.progress(min(1.0, job.fraction), text=f"Refitting `{job.label}` · {job.stage} · {job.elapsed:.0f} s")
    widgets.stop_button(job, "Cancel", "Cancelling...", key="cancel_refits",
                        help="Stop after the refit in flight; nothing is kept.")


def finish_refits() -> None:
    job = jobs.collect_finished_job(jobs.REFIT_JOB, "refits")
    if job is None:
        return
    path, stamp, resamples = job.key
    st.session_state.setdefault(REFITS, {})[(path, stamp)] = (resamples, job.result)
    st.session_state[state.NOTICE] = ("success", (f"{resamples} refits on halves of the table in "
                                                  f"{job.elapsed:.0f} s: see the column 'top 10 in refits'."))


def trust_notes(reliability: pd.DataFrame, hop: int) -> None:
    """Every hop's badge, and for the chosen hop what it rests on and what to do when it is weak."""
    colours = {"reliable": "green", "weak": "orange", "collapsed": "red"}
    # The badge is about the score (the norms builds read); the order shown comes from predictions.
    st.markdown(" ".join(f":{colours[row.badge]}-badge[hop {row.hop} score: {row.badge}]"
                         for row in reliability.itertuples()))
    row = reliability.iloc[hop]
    figures = []
    if np.isfinite(row["heldout_norm_spearman"]):
        figures.append(f"held-out norm Spearman {row['heldout_norm_spearman']:.2f}")
    if np.isfinite(row["member_agreement"]):
        figures.append(f"the members share {row['member_agreement']:.0%} of their top 10")
    basis = ", ".join(figures) or "no held-out figures"
    if row["badge"] == "collapsed":
        st.warning(f"Hop {hop}'s score collapsed: no member's embedding norms ranked the training targets here "
                   f"({basis}). Its score column says nothing; the order comes from the predictor's estimates, "
                   "not from these norms: read each module's standard error and the table's mean target.")
    elif row["badge"] == "weak":
        st.warning(f"Hop {hop}'s score is weak ({basis}; both should reach {RELIABLE}): read each module's "
                   "standard error and the table's own mean target before trusting its place.")
    else:
        st.caption(f"Hop {hop}'s score is reliable: {basis}.")


def charts(scores, hop: int, shown: pd.DataFrame) -> None:
    cols = st.columns(2)
    with cols[0]:
        st.plotly_chart(viz.feature_importance_bars(scores.feature_importance), key="importance")
    with cols[1]:
        st.plotly_chart(viz.score_boxplot(scores.nodes, hop), key="boxplot")
    selected = st.session_state.get("ab_mod_selected")
    if selected is not None and selected not in set(scores.rankings["signature"]):
        selected = st.session_state["ab_mod_selected"] = None  # chosen in another run
    event = st.plotly_chart(viz.module_scatter(shown, selected), on_select="rerun", selection_mode="points",
                            key=f"module_scatter_{st.session_state.get('ab_mod_scatter_gen', 0)}")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if points and points[0].get("customdata"):
        st.session_state["ab_mod_selected"] = points[0]["customdata"][0]
    selected = st.session_state.get("ab_mod_selected")
    match = shown[shown["signature"] == selected] if selected else shown.iloc[0:0]
    if len(match):
        inspect_module(scores, match.iloc[0])


def inspect_module(scores, row: pd.Series) -> None:
    with st.container(border=True):
        st.markdown(f"**Module** `{row['description']}` · hop {int(row['hop'])}")
        cols = st.columns(5)
        cols[0].metric("Estimate", f"{row['estimate']:.4g}", help=f"± {row['estimate_se']:.2g} (standard error)")
        cols[1].metric("Mean score", f"{row['mean_score']:.3f}")
        cols[2].metric("Occurrences", int(row["count"]))
        cols[3].metric("Architectures", int(row["architectures"]))
        cols[4].metric("Mean target", f"{row['mean_target']:.4g}")
        st.caption(f"The graph below lists the {int(row['architectures'])} architectures containing it first.")
        st.button("Clear the selection", key="clear_module", icon=":material/close:", on_click=clear_selection)


def clear_selection() -> None:
    st.session_state.pop("ab_mod_selected", None)
    # A new key gives a fresh chart widget, whose own selection is empty too.
    st.session_state["ab_mod_scatter_gen"] = st.session_state.get("ab_mod_scatter_gen", 0) + 1


def graph_section(run: Run, path: str, stamp: float, scores) -> None:
    st.subheader("Architecture graph")
    table = run_cache.run_table(path, stamp)
    targets = run_cache.run_targets(path, stamp)
    order = [int(i) for i in np.argsort(-targets, kind="stable")]
    selected = st.session_state.get("ab_mod_selected")
    if selected:
        holders = set(scores.nodes.loc[scores.nodes["signature"] == selected, "arch_index"].tolist())
        order = [i for i in order if i in holders] + [i for i in order if i not in holders]
    specs = table.frame["arch"].tolist()
    labels = {int(i): f"#{rank + 1} by target · {targets[i]:.4g} · {specs[i]}" for rank, i in
              enumerate(np.argsort(-targets, kind="stable"))}
    cols = st.columns([3, 1])
    with cols[0]:
        index = st.selectbox("Architecture (best in the table first)", order, format_func=lambda i: labels[i],
                             key=f"ab_mod_arch_{selected or 'best'}")
    with cols[1]:
        hop = st.slider("Colour by score at hop", 0, run.hops, min(1, run.hops), key="ab_mod_graph_hop")
    graph = table.graphs[int(index)]
    node_scores = run_cache.architecture_scores(path, stamp, graph.spec)
    descriptions = [graph.module_description(v, hop) for v in range(graph.num_nodes)]
    column = node_scores[:, hop]
    dark = _dark_theme()
    html = viz.architecture_network_html(graph.labels, graph.edges, column, descriptions, hop,
                                         title=f"target {targets[int(index)]:.4g}", dark=dark, height=440)
    st.iframe(html, height=450)
    frame = pd.DataFrame({"node": range(graph.num_nodes), "label": graph.labels,
                          f"module at hop {hop}": descriptions, "score": column})
    with st.expander("Node scores as a table"):
        st.dataframe(frame, hide_index=True)


def _dark_theme() -> bool:
    try:
        return st.context.theme.type == "dark"
    except Exception:  # noqa: BLE001 - older clients do not report the theme
        return False


def render() -> None:
    st.title("Modules")
    st.caption("Every node's embedding norm at hop h scores the module made of that node and its h-hop ancestors; "
               "aggregated over the training architectures, they rank modules.")
    chosen = widgets.chosen_run("_w_modules_run_picker", "module scores come from a run")
    if chosen is None:
        return
    run, path, stamp = chosen
    finish_refits()
    widgets.show_notice()
    try:
        with st.spinner("Scoring modules..."):
            scores = run_cache.module_scores(path, stamp)
    except InputError as err:
        st.error(messages.one_line(err))
        return
    hop, shown = ranking_section(scores, run.hops, st.session_state.get(REFITS, {}).get((path, stamp)))
    refit_section(path, stamp)
    charts(scores, hop, shown)
    graph_section(run, path, stamp, scores)


if __name__ == "__main__":
    render()
