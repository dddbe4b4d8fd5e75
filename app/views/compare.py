"""Compare runs: the saved runs' held-out quality side by side, and the modules two runs rank most differently.

Everything is computed by :mod:`core.runs.comparison`; this page draws. The runs table reads only each
run's ``config.json`` and ``metrics.json``; the module comparison scores the union of both runs' training
architectures with each run (about 0.1 s for two 300-row runs on this machine), so it is cached per pair
of runs, keyed on their paths and stamps, rather than run as a background job.
"""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from app import messages, run_cache, state, widgets
from core.errors import InputError
from core.runs.comparison import runs_table
from core.scoring.disagreement import module_disagreement
from core.files.table_io import csv_text

#: Rows of the disagreement table shown (the whole table is downloadable).
SHOWN = 20


@st.cache_data(show_spinner=False, max_entries=8)
def cached_runs_table(runs: tuple[tuple[str, float], ...]) -> pd.DataFrame:
    """:func:`core.runs.comparison.runs_table` of ``(path, stamp)`` pairs (the stamps only key the cache)."""
    return runs_table([path for path, _ in runs])


@st.cache_data(show_spinner=False, max_entries=16)
def cached_disagreement(path_a: str, stamp_a: float, path_b: str, stamp_b: float, hop: int):
    """:func:`core.runs.comparison.module_disagreement` of two saved runs at one hop."""
    return module_disagreement(run_cache.load_run(path_a, stamp_a), run_cache.load_run(path_b, stamp_b), hop)


def hop_columns(table: pd.DataFrame) -> list[str]:
    return sorted((c for c in table.columns if c.startswith("hop") and c.endswith("_spearman")),
                  key=lambda c: int(c[3:-len("_spearman")]))


def runs_section(table: pd.DataFrame) -> None:
    st.subheader("Saved runs")
    hops = hop_columns(table)
    # The per-hop figures go below (chart, and a table in an expander): all 15 columns in one table ran off
    # a 1400 px window.
    columns = ["run", "space / dataset", "target", "rows", "measured_on", "spearman", "kendall_tau", "precision_at_k"]
    table = table.assign(**{"space / dataset": [f"{s}/{d}" if isinstance(d, str) and d else s
                                                for s, d in zip(table["space"], table["dataset"])]})
    config = {c: st.column_config.NumberColumn(c.replace("_spearman", " ρ"), format="%.3f") for c in hops}
    config.update({
        "measured_on": st.column_config.TextColumn("measured on", help="held out: a validation split; training "
                                                   "fit: the run had none (a campaign round's), so its figures "
                                                   "are its fit to its own training rows"),
        "spearman": st.column_config.NumberColumn("Spearman", format="%.3f"),
        "kendall_tau": st.column_config.NumberColumn("Kendall τ", format="%.3f"),
        "precision_at_k": st.column_config.NumberColumn("precision@k", format="%.3f"),
        "rows": st.column_config.NumberColumn("size (rows)"),
    })
    st.dataframe(table[columns], hide_index=True, key="compare_runs_table", column_config=config)
    st.caption("Figures on each run's validation split (\"measured on\": held out), or its training fit where it had "
               "none. `hop h ρ` is the Spearman of the hop-h "
               "embedding norm with the target: how well the module scores at that hop rank architectures.")
    with st.expander("Per-hop Spearman, as a table", expanded=False):
        st.dataframe(table[["run", "gnn", "epochs"] + hops], hide_index=True, key="compare_hops_table",
                     column_config=config)
    long = table.melt(id_vars=["run", "target"], value_vars=hops, var_name="hop", value_name="Spearman")
    long["hop"] = long["hop"].str[3:-len("_spearman")].astype(int)
    long = long.dropna(subset=["Spearman"])
    cols = st.columns(2)
    with cols[0]:
        bars = px.bar(table, x="run", y="spearman", color="target", hover_data=["space", "dataset", "rows", "gnn"],
                      labels={"spearman": "held-out Spearman", "run": "run"}, title="Held-out Spearman per run")
        st.plotly_chart(bars, key="compare_spearman_chart")
    with cols[1]:
        lines = px.line(long, x="hop", y="Spearman", color="run", markers=True, hover_data=["target"],
                        labels={"hop": "hop (edges from the node)", "Spearman": "Spearman of the hop-h norm"},
                        title="Per-hop Spearman of the embedding norm")
        lines.update_xaxes(dtick=1)
        st.plotly_chart(lines, key="compare_hop_chart")


def disagreement_section(table: pd.DataFrame, paths: dict[str, str]) -> None:
    st.subheader("Modules two runs disagree on")
    spaces = table.groupby("space")["run"].apply(list)
    pairs = {space: runs for space, runs in spaces.items() if len(runs) >= 2}
    if not pairs:
        st.info("Module rankings compare between two runs of one search space; no space has two saved runs yet.")
        return
    first = [run for runs in pairs.values() for run in runs]
    labels = {row.run: f"{row.run} · {row.target} · ρ {row.spearman:.2f}" for row in table.itertuples()}
    cols = st.columns([2, 2, 1])
    with cols[0]:
        run_a = state.select("Run A", first, "ab_cmp_a", first[0], format_func=labels.get)
    space = table.set_index("run").loc[run_a, "space"]
    others = [r for r in pairs[space] if r != run_a]
    with cols[1]:
        run_b = state.select("Run B (same space)", others, "ab_cmp_b", others[0], format_func=labels.get)
    path_a, path_b = paths[run_a], paths[run_b]
    loaded_a = run_cache.load_run(path_a, run_cache.run_stamp(path_a))
    loaded_b = run_cache.load_run(path_b, run_cache.run_stamp(path_b))
    with cols[2]:
        hop = state.select("Hop", list(range(min(loaded_a.hops, loaded_b.hops) + 1)), "ab_cmp_hop", 1,
                           help="A hop-h module is a node plus its ancestors up to h edges away.")
    try:
        with st.spinner("Scoring both runs' architectures..."):
            result = cached_disagreement(path_a, run_cache.run_stamp(path_a), path_b, run_cache.run_stamp(path_b),
                                         int(hop))
    except InputError as err:
        st.error(messages.one_line(err))
        return
    cols = st.columns(3)
    cols[0].metric("Agreement (Spearman of the shown orders)", "n/a" if result.agreement != result.agreement
                   else f"{result.agreement:.3f}", help="Over the modules both rankings hold.")
    cols[1].metric("Shared modules", len(result.table))
    cols[2].metric("Only in A / only in B", f"{result.only_a} / {result.only_b}")
    shown = result.table.head(SHOWN)
    st.dataframe(shown, hide_index=True, key="compare_disagreement_table", column_config={
        "description": st.column_config.TextColumn("module", width="large"),
        "place_a": st.column_config.ProgressColumn(f"place in A ({run_a})", min_value=0, max_value=1, format="%.2f"),
        "place_b": st.column_config.ProgressColumn(f"place in B ({run_b})", min_value=0, max_value=1, format="%.2f"),
        "score_a": st.column_config.NumberColumn("score A", format="%.3f"),
        "score_b": st.column_config.NumberColumn("score B", format="%.3f"),
        "disagreement": st.column_config.NumberColumn(format="%.2f"),
    })
    st.caption(f"The {len(shown)} of {len(result.table)} hop-{hop} modules whose places differ most. A place is "
               "the module's rank percentile in that run's ranking: 0 is the best module, 1 the worst; "
               "disagreement = |place A - place B|. Both runs scored the same architectures (the union of their "
               "training tables).")
    st.download_button("Download the whole table (CSV)", csv_text(result.table),
                       file_name=f"modules-{run_a}-vs-{run_b}-hop{hop}.csv", mime="text/csv",
                       icon=":material/download:", key="compare_download")


def render() -> None:
    st.title("Compare runs")
    st.caption("The saved runs' held-out quality side by side, and the modules two runs of one space rank most "
               "differently (the same comparison as `python -m core compare RUN RUN --hop H`).")
    available = run_cache.runs()
    if not available:
        widgets.no_run("comparing needs saved runs")
        return
    keyed = tuple((str(r.path), run_cache.run_stamp(r.path)) for r in available)
    try:
        table = cached_runs_table(keyed)
    except InputError as err:
        st.error(messages.one_line(err))
        return
    runs_section(table)
    disagreement_section(table, {r.path.name: str(r.path) for r in available})
    tidy_section(available)


def tidy_section(available) -> None:
    """Take a run home (zip) or delete one, here where the runs are side by side."""
    st.subheader("Download or delete a run")
    names = {r.path.name: r.path for r in available}
    name = st.selectbox("Run", list(names), key="compare_tidy_run")
    if name is not None:
        widgets.directory_actions(names[name], "run", key="compare_run")


if __name__ == "__main__":
    render()
