"""A session's main choices mirrored in the page's URL, so a browser reload (which starts a new Streamlit
session with an empty ``st.session_state``) comes back to them.

Kept: the bundled table's file name, or the content key of an uploaded table (the upload itself is kept
on the server, app/upload_store.py), the target expression, the run in use (its directory name) and the
running training job. A benchmark sample and a zip of ONNX models fall back to the default table. Streamlit clears query parameters on page navigation, so the
entry file writes them again after every page. Both functions import the app's state (and so torch)
only when there is something to do, so the first page still paints before the model libraries load.
"""
from __future__ import annotations

import sys

import streamlit as st

TABLE_PARAM, TARGET_PARAM, RUN_PARAM, JOB_PARAM, UPLOAD_PARAM = "table", "target", "run", "job", "upload"
RESTORED = "ab_url_restored"  # set once per session: the URL is read only when a session starts
PARAMS = (TABLE_PARAM, TARGET_PARAM, RUN_PARAM, JOB_PARAM, UPLOAD_PARAM)


def restore() -> None:
    """On a session's first run, take the choices the URL names (each checked; unknown ones are ignored)."""
    if st.session_state.get(RESTORED):
        return
    st.session_state[RESTORED] = True
    params = st.query_params
    if not any(key in params for key in PARAMS):
        return
    from app import jobs, state, table_cache
    from core.errors import InputError
    from core.tables.file_names import infer_space_dataset

    table_name = params.get(TABLE_PARAM)
    bundled = {p.name: p for p in table_cache.bundled_tables()}
    if table_name in bundled and state.TABLE not in st.session_state:
        space, dataset = infer_space_dataset(table_name)
        if space:
            try:
                state.set_table(table_cache.bundled_table(str(bundled[table_name]), space), table_name, dataset)
                st.session_state["ab_source_kind"] = "Bundled sample"  # the Data page's choices show it
                st.session_state["ab_bundled"] = table_name
            except InputError:  # the shipped table no longer validates: keep the default
                pass
    upload = params.get(UPLOAD_PARAM)
    if upload and state.TABLE not in st.session_state:
        _restore_upload(upload)
    target = params.get(TARGET_PARAM)
    if target:
        _restore_target(target)
    run = params.get(RUN_PARAM)
    if run and "/" not in run and not run.startswith(".") and (state.runs_dir() / run).is_dir():
        st.session_state[state.RUN] = str(state.runs_dir() / run)
    job = jobs.get_job(params.get(JOB_PARAM))
    if job is not None and job.kind == "train" and not job.finished:
        st.session_state[jobs.JOB] = job.id


def _restore_upload(key: str) -> None:
    """Make the kept upload named by ``key`` the table again (validated like a fresh upload); an unknown,
    expired or no longer valid one leaves the default table, and the page says so."""
    from core.errors import InputError

    from app import state, table_cache, upload_store

    kept = upload_store.load(key)
    if kept is None:
        st.session_state[state.NOTICE] = ("info", "The uploaded table this link names is no longer kept on the "
                                                  "server (uploads expire after a week unused); upload it again.")
        return
    try:
        table = table_cache.validate_upload(kept.data, kept.name, kept.space, None, None)
    except InputError:
        return
    label = f"{kept.name} ({kept.space})"
    state.set_table(table, label, kept.dataset)
    st.session_state[state.UPLOAD] = (key, label)
    st.session_state["ab_source_kind"] = "Upload"  # the Data page shows it as the current upload


def _restore_target(expression: str) -> None:
    """Make ``expression`` the target if it fits the table, and set the Data page's target widgets to
    show it (a metric column, a negated one, else an expression)."""
    from app import state
    from core.errors import InputError
    from core.targets.target import parse_target

    table = state.current_table()
    try:
        parse_target(expression, table.metric_columns)
    except InputError:
        return
    st.session_state[state.TARGET] = expression
    column = expression[1:] if expression.startswith("-") else expression
    if column in table.metric_columns:
        st.session_state["ab_target_mode"] = "Metric column"
        st.session_state["ab_target_metric"] = column
        st.session_state[f"ab_target_lower:{column}"] = expression.startswith("-")
    else:
        st.session_state["ab_target_mode"] = "Expression"
        st.session_state["ab_expression"] = expression


def mirror() -> None:
    """Write the session's current choices into the URL (removing those it no longer has)."""
    if "app.state" not in sys.modules:  # no page has loaded the state yet: nothing chosen
        return
    from app import jobs, state, table_cache
    label = st.session_state.get(state.TABLE_LABEL)
    run = st.session_state.get(state.RUN)
    job = jobs.session_job(jobs.JOB)
    kept = st.session_state.get(state.UPLOAD)
    wanted = {
        TABLE_PARAM: label if label in {p.name for p in table_cache.bundled_tables()} else None,
        UPLOAD_PARAM: kept[0] if kept and kept[1] == label else None,
        TARGET_PARAM: st.session_state.get(state.TARGET),
        RUN_PARAM: run.rsplit("/", 1)[-1] if run else None,
        JOB_PARAM: job.id if job is not None and not job.finished else None,
    }
    for key, value in wanted.items():
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]
