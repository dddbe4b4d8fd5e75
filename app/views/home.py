"""Home: what AutoBuild Studio does, where the session stands, and what ships with it."""
from __future__ import annotations

import pandas as pd
import streamlit as st


@st.cache_data(show_spinner=False)
def spaces_overview() -> pd.DataFrame:
    """One row per registered search space: description, shipped datasets, size, units and what it can do."""
    from core.spaces import get_space, space_names

    rows = []
    for name in space_names():
        space = get_space(name)
        size = space.size()
        rows.append({
            "space": name,
            "description": space.description,
            "datasets with metrics": ", ".join(space.datasets),
            "architectures": "unbounded / yours" if size is None else f"{size:,}",
            "units": ", ".join(space.units()),
            "capabilities": ", ".join(space.capabilities()),
        })
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False)
def samples_overview() -> pd.DataFrame:
    from app import table_cache
    from core.tables.file_names import infer_space_dataset

    rows = []
    for path in table_cache.bundled_tables():
        space, dataset = infer_space_dataset(path.name)
        frame = pd.read_csv(path, nrows=0)
        with path.open() as handle:
            n = max(0, sum(1 for _ in handle) - 1)
        rows.append({"table": path.name, "space": space, "dataset": dataset, "architectures": n,
                     "metrics": ", ".join(c for c in frame.columns if c != "arch")})
    return pd.DataFrame(rows)


def status_cards() -> None:
    from app import run_cache, state

    table = state.current_table()
    run_path = run_cache.current_run_path()
    cols = st.columns(3)
    with cols[0].container(border=True):
        st.markdown("**1 · Data & target**")
        st.caption(f"`{st.session_state.get(state.TABLE_LABEL)}` · {len(table)} architectures")
        st.caption(f"target `{state.current_target()}`")
        st.page_link("views/data.py", label="Choose data", icon=":material/table:")
    with cols[1].container(border=True):
        st.markdown("**2 · Train & inspect modules**")
        runs = run_cache.runs()
        st.caption(f"{len(runs)} saved run{'s' if len(runs) != 1 else ''}"
                   + (f" · in use: `{run_path.rsplit('/', 1)[-1]}`" if run_path else ""))
        st.page_link("views/train.py", label="Train a predictor", icon=":material/model_training:")
        st.page_link("views/modules.py", label="Module scores", icon=":material/account_tree:")
    with cols[2].container(border=True):
        st.markdown("**3 · Build**")
        st.caption("top-k modules per unit → reduced space → best architectures")
        st.page_link("views/build.py", label="Build architectures", icon=":material/construction:")


def render() -> None:
    st.title("AutoBuild Studio")
    st.markdown(
        "AutoBuild (Mills et al., CVPR 2024) learns from architectures you have already evaluated **which modules** "
        "make them good, and gives every module an interpretable score at each hop level. "
        "Pick a table of architectures and their metrics (a real NAS-Bench-Graph sample is already loaded), choose "
        "a target such as accuracy or accuracy per latency, and train the predictor. "
        "Then inspect the module rankings and **build** new high-performing architectures from the best modules, "
        "or shrink the search space for another search."
    )
    # The first start imports torch and torch-geometric (seconds): the text above is already on screen.
    with st.spinner("Loading the model libraries (first start only)..."):
        status_cards()
    st.subheader("Bundled sample tables")
    st.dataframe(samples_overview(), hide_index=True)
    st.subheader("Registered search spaces")
    st.dataframe(spaces_overview(), hide_index=True)


if __name__ == "__main__":
    render()
