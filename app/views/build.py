"""Build: keep the top-k modules per unit, report the reduced space, and build the N best architectures."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import streamlit as st

from app import jobs, run_cache, state, table_cache, widgets
from app.views.loop_data import (
    WEAK_SPEARMAN,  # one line for "too weak to build from" on both pages
)
from core import viz
from core.building.constraints import Constraint, parse_constraints
from core.building.lookup import no_true_metrics_reason
from core.errors import InputError
from core.runs.run import Run
from core.workflow import is_held_out
from core.files.table_io import csv_text
from core.spaces.base import UNIT_WORDS, SearchSpace

COST_WORDS = re.compile(r"lat|para|param|flop|mac|size|energy|mem|time|fid", re.IGNORECASE)

#: How candidates are read out, per kind of build (core.building.builder.UNIT_HOPS / CELL_SCORES), for the select box.
UNIT_READOUTS = {"unit": "each unit's deepest hop", "depth": "each candidate's depth - 1 (paper)"}
CELL_READOUTS = {"sink": "sink node at its depth (paper)", "graph": "graph embedding at hop L"}
#: Which ops of a position a cell build keeps (core.building.config.MODULE_ORDERS), for the select box.
MODULE_ORDER_WORDS = {"estimate": "estimated mean target (the Modules page's order)",
                      "score": "mean cell score (paper)"}
#: This session's baselines: (run path, stamp, N) -> the regression head's top N (a DataFrame).
BASELINES = "ab_baselines"


def draw_build(job: jobs.Job) -> None:
    st.progress(min(1.0, job.fraction), text=f"Building from `{job.label}` · {job.stage} · {job.elapsed:.0f} s")
    st.caption("Scoring every candidate of the space takes a few seconds; other pages stay usable meanwhile.")
    widgets.stop_button(job, "Cancel", "Cancelling...", key="cancel_build",
                        help="Stop at the next step of the build; nothing is kept.")


def draw_baseline(job: jobs.Job) -> None:
    st.progress(min(1.0, job.fraction), text=f"Scoring the whole space with `{job.label}`'s regression head · "
                                             f"{job.stage} · {job.elapsed:.0f} s")
    widgets.stop_button(job, "Cancel", "Cancelling...", key="cancel_baseline",
                        help="Stop after the batch being scored; nothing is kept.")


def finish_job() -> None:
    job = jobs.collect_finished_job(jobs.BUILD_JOB, "build")
    if job is None:
        return
    st.session_state.setdefault(state.BUILDS, {})[job.key] = job.result
    st.session_state[state.NOTICE] = ("success", f"Built {len(job.result.built)} architectures in {job.elapsed:.1f} s.")


def scatter(run: Run, path: str, stamp: float, built: pd.DataFrame) -> None:
    st.subheader("Built architectures in the space")
    true_columns = [c for c in built.columns if c.startswith("true_")]
    dataset = run.dataset if run.space.has_lookup else None  # the run's own, never a default one
    if true_columns and dataset:
        background = table_cache.lookup_table(run.space.name, dataset)
        points = built.rename(columns={c: c[len("true_"):] for c in true_columns})
        metrics = [c[len("true_"):] for c in true_columns]
        name = f"{run.space.name}/{dataset} (all {len(background):,})"
    else:
        background = run_cache.run_predictions(path, stamp)
        points = built.assign(nodes=[run.space.to_graph(a).num_nodes for a in built["arch"]])
        metrics = ["predicted", "nodes"]
        name = "training architectures"
    target_metric = next((c for c in run.config.target_columns if c in metrics), None)
    y_default = target_metric or metrics[0]
    x_default = next((m for m in metrics if COST_WORDS.search(m) and m != y_default),
                     next((m for m in metrics if m != y_default), metrics[0]))
    cols = st.columns([2, 2, 1, 1])
    with cols[0]:
        x = state.select("x axis", metrics, "ab_build_x", x_default)
    with cols[1]:
        y = state.select("y axis", metrics, "ab_build_y", y_default)
    with cols[2]:
        lower_x = st.checkbox("lower x is better", value=bool(COST_WORDS.search(x)), key=f"ab_build_lx_{x}")
    with cols[3]:
        higher_y = st.checkbox("higher y is better", value=not COST_WORDS.search(y), key=f"ab_build_hy_{y}")
    figure = viz.built_scatter(background, points, x, y, minimize_x=lower_x, maximize_y=higher_y,
                               background_name=name)
    # Axis titles with the metric's unit (the space's metric_units): `latency (s)`, not a bare `latency`.
    figure.update_layout(xaxis_title=run.space.metric_label(x), yaxis_title=run.space.metric_label(y))
    st.plotly_chart(figure, key="built_scatter")


def downloads(run: Run, result, top: int, k: int, readout: str, order: str = "") -> None:
    built = result.built
    payload = {
        "run": run.name, "space": run.space.name, "dataset": run.dataset, "target": run.target,
        "top": top, "k": k, "readout": readout, "method": result.method,
        **({"module_order": order} if order else {}),
        "reduced_space_size": int(result.reduced_space_size), "notes": result.notes,
        "units": json.loads(result.units.to_json(orient="records")),
        "built": json.loads(built.to_json(orient="records")),
    }
    cols = st.columns(2)
    cols[0].download_button("Download CSV", csv_text(built), file_name=f"{run.name}-built.csv",
                            mime="text/csv", icon=":material/download:", key="dl_csv")
    cols[1].download_button("Download JSON", json.dumps(payload, indent=2), file_name=f"{run.name}-built.json",
                            mime="application/json", icon=":material/download:", key="dl_json")


def show_result(run: Run, path: str, stamp: float, result, top: int, k: int, readout: str, order: str = "") -> None:
    size = run.space.size()
    cols = st.columns(4)
    cols[0].metric("Reduced space", f"{int(result.reduced_space_size):,}",
                   help="Architectures made only of the kept top-k modules.")
    cols[1].metric("Full space", "unbounded" if not size else f"{size:,}")
    cols[2].metric("Built", len(result.built))
    cols[3].metric("Method", result.method)
    if result.notes:
        st.caption(result.notes)
    st.subheader("Built architectures")
    built = result.built.copy()
    built.insert(0, "#", np.arange(1, len(built) + 1))
    first = ["#", "arch", "score", "predicted", "percentile"]
    built = built[[c for c in first if c in built] + [c for c in built if c not in first]]
    st.dataframe(built, hide_index=True, column_config=architecture_columns(built, run.space), key="built_table")
    if "percentile" in built:
        st.caption(f"`true …` columns are looked up in the {run.space.name}/{run.dataset} benchmark shipped with the "
                   f"package ({run.config.dataset_note or run.dataset}); the percentile is that of the run's target "
                   "metric among all architectures of the space.")
    elif run.space.has_lookup:
        st.caption(f"No true metrics: {no_true_metrics_reason(run)}.")
    downloads(run, result, top, k, readout, order)
    exhaustive_baseline(run, path, stamp, top)
    with st.expander(f"Kept modules per unit (top {k})", expanded=False):
        st.dataframe(result.units, hide_index=True,
                     column_config={"score": st.column_config.NumberColumn(format="%.3f")})
    scatter(run, path, stamp, result.built)


def architecture_columns(frame: pd.DataFrame, space: SearchSpace) -> dict:
    """Column formats shared by the built table and the baseline's, so the two read alike; metric headers
    carry the space's units (``true latency (s)``)."""
    config = {
        "arch": st.column_config.TextColumn("architecture", width=330),
        "score": st.column_config.NumberColumn(format="%.3f"),
        "predicted": st.column_config.NumberColumn("predicted target", format="%.4g"),
    }
    for column in frame.columns:
        if column.startswith("true_"):
            config[column] = st.column_config.NumberColumn(space.metric_label(column).replace("true_", "true "),
                                                           format="%.4g")
    if "percentile" in frame:
        config["percentile"] = st.column_config.ProgressColumn("percentile in space", min_value=0, max_value=100,
                                                               format="%.1f")
    return config


def exhaustive_baseline(run: Run, path: str, stamp: float, top: int) -> None:
    """The usual predictor baseline next to the built ones: the regression head's top N over the space."""
    space = run.space
    if not space.enumerable:
        return
    key = (path, stamp, top)
    job = jobs.session_job(jobs.BASELINE_JOB)
    running = job is not None and not job.finished
    table = st.session_state.get(BASELINES, {}).get(key)
    # Open while scoring and once scored: the rerun that shows the result must not fold it away.
    with st.expander(f"Baseline: the regression head's top {top} over all {space.size():,} architectures",
                     expanded=running or table is not None):
        st.caption("What predictor-based NAS would pick (the paper's \"exhaustive search\"): every architecture "
                   "of the space scored by the head, those already in the training table left out.")
        if space.size() > run_cache.EXHAUSTIVE_IN_PAGE:
            st.code(f"python -m core exhaustive --run {run.path} --top {top}", language="bash")
            return
        if table is None and st.button("Score the whole space", key="exhaustive_button", disabled=running):
            jobs.start_baseline(path, stamp, top)
            st.rerun()
        if running:
            widgets.live_job(job.id, "Scoring with", draw_baseline)
        if table is None:
            return
        first = ["arch", "predicted", "percentile"]
        table = table[[c for c in first if c in table] + [c for c in table if c not in first]]
        st.dataframe(table, hide_index=True, key="exhaustive_table", column_config=architecture_columns(table, run.space))
        scored, seconds = table.attrs.get("scored", 0), table.attrs.get("seconds", 0)
        st.caption(f"{scored:,} scored in {seconds:.1f} s."
                   + (" `true …` and the percentile as in the built table: looked up, not predicted."
                      if "percentile" in table else ""))


def finish_baseline() -> None:
    """Keep this session's finished baseline (by run, stamp and N) so it stays on screen across reruns."""
    job = jobs.collect_finished_job(jobs.BASELINE_JOB, "scoring the whole space")
    if job is not None:
        st.session_state.setdefault(BASELINES, {})[job.key] = job.result


def weak_run_warning(run: Run) -> None:
    """Say plainly when the run ranks too weakly for a one-shot build to be trusted, and what helps."""
    rho = ((run.metrics or {}).get("heldout") or {}).get("spearman")
    if rho is None or not rho < WEAK_SPEARMAN:
        return
    what = "held-out Spearman" if is_held_out(run.metrics or {}) else "Spearman on its own training rows"
    st.warning(f"**One-shot builds from this run are unreliable**: its {what} is {rho:.2f} (below "
               f"{WEAK_SPEARMAN}). At this correlation its module scores pick architectures no better than random "
               "picks. The Loop page measures what it proposes and retrains on those measurements each round, so "
               "the result is the best *measured* architecture.", icon=":material/warning:")
    st.page_link("views/loop.py", label="Go to Loop", icon=":material/autorenew:")


def render() -> None:
    st.title("Build")
    chosen = widgets.chosen_run("_w_build_run_picker", "building uses its module scores")
    if chosen is None:
        return
    run, path, stamp = chosen
    st.caption(method_caption(run))
    finish_job()
    finish_baseline()
    widgets.show_notice()
    weak_run_warning(run)
    cols = st.columns([1, 1, 1.4, 1])
    with cols[0]:
        k = st.number_input("k: modules kept per unit" if run.space.has_units else "k: ops kept per position",
                            min_value=1, max_value=20, step=1,
                            key=state.remember("ab_build_k", 3))
        state.keep("ab_build_k", k)
    with cols[1]:
        top = st.number_input("N: architectures to build", min_value=1, max_value=100, step=1,
                              key=state.remember("ab_build_top", 4))
        state.keep("ab_build_top", top)
    with cols[2]:
        readout = readout_choice(run)
        order = order_choice(run)
    limits = limits_choice(run)
    job = jobs.session_job(jobs.BUILD_JOB)
    key = (path, stamp, int(top), int(k), readout, order, limits)
    result = st.session_state.get(state.BUILDS, {}).get(key)
    with cols[3]:
        st.write("")
        st.write("")
        clicked = st.button("Build" if result is None else "Build again", type="primary",
                            icon=":material/construction:",
                            disabled=(job is not None and not job.finished) or limits is None, key="build_button")
    if clicked and limits is not None:
        jobs.start_build(path, stamp, int(top), int(k), readout, limits, order)
        st.rerun()
    if job is not None and not job.finished:
        widgets.live_job(job.id, "Build from", draw_build)
        return
    if result is None and limits is None:
        st.info("Build is off until the limits above parse: fix or clear them.")
        return
    if result is None:
        st.info(f"Choose k, N and the readout, then press **Build** to build from run `{run.name}`.")
        return
    show_result(run, path, stamp, result, int(top), int(k), readout, order)


def method_caption(run: Run) -> str:
    """What a build of this run's space does, in one line (core.building.units or core.building.modules)."""
    if run.space.has_units:
        return ("Score every candidate of each unit, keep the top k per unit (their product is the reduced search "
                "space), and build the N best architectures by summed module score.")
    return ("Keep the k best ops of each position of the cell (the architectures made only of kept ops are the "
            "reduced search space), and build the N best of them by cell score.")


def limits_choice(run: Run) -> tuple[Constraint, ...] | None:
    """Limits on metrics (core.building.constraints) for spaces that ship a look-up table or measure their
    networks; None while the text does not parse (the error is shown and Build is disabled)."""
    if run.space.has_lookup:
        label, example, where = ("Limits on look-up metrics (optional)", "latency <= 0.004, para < 1.2",
                                 "in the space's look-up table")
    elif run.space.can_measure:
        label, example, where = ("Limits on measured metrics (optional)", "flops_m <= 300, latency_ms <= 20",
                                 "measured on this machine as the build needs them (latency_ms, cpu_ms, params_m, "
                                 "flops_m; timing adds about a second per architecture checked)")
    else:
        return ()
    units = ", ".join(f"{c} in {UNIT_WORDS.get(u, u)}" for c, u in run.space.metric_units.items())
    text = st.text_input(label, key=state.remember("ab_build_limits", ""), placeholder=f"e.g. {example}",
                         help=f"Build only architectures whose metrics, {where}, satisfy every limit: "
                              "comma-separated 'column <= number' (or <, >=, >)." + (f" Units: {units}." if units else ""))
    if units:
        st.caption(f"Limits are in the table's units: {units}.")
    state.keep("ab_build_limits", text)
    try:
        return parse_constraints(text)
    except InputError as err:
        st.error(str(err))
        return None


def readout_choice(run: Run) -> str:
    """Which hop (unit build) or which embedding (module build) scores a candidate: core.building.builder's
    ``unit_hop`` or ``cell_score``; the default is the library's."""
    if run.space.has_units:
        return state.select("Readout", list(UNIT_READOUTS), "ab_build_unit_hop", "unit",
                            format_func=UNIT_READOUTS.get,
                            help="Hop at which a unit candidate's last node is scored. With GATv2 predictors "
                                 "the paper's readout (depth - 1) builds better.")
    return state.select("Readout", list(CELL_READOUTS), "ab_build_cell_score", "sink", format_func=CELL_READOUTS.get,
                        help="How a whole cell is scored: its sink node (the paper's unit readout) or the graph "
                             "embedding's norm at the last hop, which the magnitude-ranked loss ranks directly.")


def order_choice(run: Run) -> str:
    """Which ops of each position a cell build keeps: core.building.config's ``module_order``; "" for a
    unit build, which has no such choice."""
    if run.space.has_units:
        return ""
    return state.select("Keep ops by", list(MODULE_ORDER_WORDS), "ab_build_module_order", "estimate",
                        format_func=MODULE_ORDER_WORDS.get,
                        help="Which k ops of each position are kept: those the Modules page ranks first (their "
                             "estimated mean target over the space), or those whose architectures have the "
                             "highest mean cell score (the paper's norm readout).")


if __name__ == "__main__":
    render()
