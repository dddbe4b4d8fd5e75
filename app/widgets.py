"""Widgets more than one page draws: the one-time notice, the run picker, the "no run yet" notice and
the live progress of a background job (with its place in the training queue)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from core.campaign.removal import delete_campaign
from core.errors import InputError
from core.files.directories import directory_stamp, zip_directory
from core.runs.run import Run, delete_run
from core.spaces import get_space
from core.tables.validated import ValidatedTable

from app import messages, run_cache, state
from app import jobs

from app.page_guard import guard_fragment

#: Where the pages are, relative to app/main.py (for st.page_link).
TRAIN_PAGE = "views/train.py"


def show_notice() -> None:
    """The message a finished job or a form left for this render (success, info or error), once."""
    notice = state.pop_notice()
    if not notice:
        return
    kind, text = notice
    {"error": st.error, "info": st.info}.get(kind, st.success)(text)


def no_run(what: str) -> None:
    """Tell the user there is no trained run yet and link to the Train page; ``what`` says what needs one."""
    st.info(f"No trained run yet: train the predictor first; {what}.")
    st.page_link(TRAIN_PAGE, label="Go to Train", icon=":material/model_training:")


def run_picker(label: str = "Run", key: str = "run_picker") -> Run | None:
    """A select box over saved runs (this session's current one preselected); the loaded run or None."""
    available = run_cache.runs()
    if not available:
        return None
    paths = [str(r.path) for r in available]
    current = run_cache.current_run_path()
    index = paths.index(current) if current in paths else 0
    by_path = {str(r.path): r for r in available}
    choice = st.selectbox(label, paths, index=index, key=key, format_func=lambda p: run_cache.run_label(by_path[p]))
    st.session_state[state.RUN] = choice
    return run_cache.load_run(choice, run_cache.run_stamp(choice))


def chosen_run(key: str, what: str) -> tuple[Run, str, float] | None:
    """The run picker of a page that needs a run: (run, path, stamp), or None after the "no run" notice."""
    run = run_picker("Run", key=key)
    if run is None:
        no_run(what)
        return None
    path = str(run.path)
    return run, path, run_cache.run_stamp(path)


def table_in_use(lead: str = "Table", note: str = "") -> tuple[ValidatedTable, str, str | None]:
    """One line naming this session's table and target (chosen on the Data & target page); returns the
    table, the target expression and the benchmark dataset (None for an upload)."""
    table = state.current_table()
    target = state.current_target()
    dataset = st.session_state.get(state.DATASET)
    st.markdown(f"{lead} `{st.session_state.get(state.TABLE_LABEL)}` ({len(table)} architectures, space "
                f"`{table.space_name}`) · target `{target}`{note} — change them on the Data & target page.")
    return table, target, dataset


def queue_notice(job: jobs.Job, what: str) -> None:
    """A queued job's place in the server's training queue, with a Cancel button."""
    running, waiting, limit = jobs.training_load()
    position = job.queue_position or 1
    st.info(f"{what} `{job.label}` is queued: number {position} of {waiting} waiting. This server trains "
            f"{limit} predictor{'s' if limit != 1 else ''} at a time ({running} training now); yours starts "
            "as soon as a slot is free.", icon=":material/hourglass_top:")
    stopping = job.stop.is_set()
    st.button("Cancelling..." if stopping else "Cancel", icon=":material/close:", disabled=stopping,
              on_click=job.stop.set, key=f"cancel_queued_{job.kind}", help="Leave the queue; nothing is trained.")


@st.fragment(run_every=1.0)
@guard_fragment("a running job's progress")
def live_job(job_id: str, what: str, draw: Callable[[jobs.Job], None]) -> None:
    """Poll a job every second: the queue notice while it waits, ``draw(job)`` while it runs, and a rerun
    of the whole page when it ends (the page then collects its result)."""
    job = jobs.get_job(job_id)
    if job is None:
        return
    if job.finished:
        st.rerun()
    if job.queued:
        queue_notice(job, what)
        return
    draw(job)


def stop_button(job: jobs.Job, label: str, stopping_label: str, key: str, help: str) -> None:
    """A button that sets the job's stop event (core checks it between epochs or evaluations)."""
    stopping = job.stop.is_set()
    st.button(stopping_label if stopping else label, icon=":material/stop:", disabled=stopping,
              on_click=job.stop.set, key=key, help=help)


def follow_job(session_key: str, what: str, draw: Callable[[jobs.Job], None]) -> jobs.Job | None:
    """This session's unfinished job under ``session_key``, drawn live (:func:`live_job`); None if none."""
    job = jobs.session_job(session_key)
    if job is None or job.finished:
        return None
    live_job(job.id, what, draw)
    return job


def metric_columns(columns, space_name: str | None) -> dict:
    """``st.dataframe`` column settings that put each metric's unit in its header (``latency (s)``,
    ``para (M)``: the space's ``metric_units``), so no table shows a bare number of unknown scale."""
    if not space_name:
        return {}
    try:
        space = get_space(space_name)
    except InputError:  # an unknown space name shows plain headers; the page reports the space elsewhere
        return {}
    return {str(c): st.column_config.NumberColumn(space.metric_label(str(c)), format="%.4g")
            for c in columns if space.metric_label(str(c)) != str(c)}


@st.cache_data(show_spinner=False, max_entries=4)
def _zipped(path: str, stamp: tuple) -> bytes:
    """A directory as zip bytes, once per content (``stamp``: its files' names, sizes and times)."""
    return zip_directory(path)


def directory_actions(path: Path, kind: str, key: str, busy: bool = False) -> None:
    """Download a run or campaign directory as a zip, or delete it after a confirmation. ``path`` comes from
    the product's own listing (never typed by a user), and the core refuses anything not a run or campaign
    (``delete_run``, ``delete_campaign``). ``busy``: a job of this session uses it, so it cannot be deleted."""
    cols = st.columns([1, 1, 3])
    try:
        data = _zipped(str(path), directory_stamp(path))
    except (InputError, OSError) as err:
        cols[0].caption(f"No download: {messages.one_line(err)}")
    else:
        cols[0].download_button(f"Download {kind} (zip)", data, file_name=f"{path.name}.zip", mime="application/zip",
                                icon=":material/download:", key=f"{key}_zip", on_click="ignore")
    with cols[1].popover(f"Delete {kind}", icon=":material/delete:", disabled=busy,
                         help="in use by a job of this session" if busy else None):
        st.markdown(f"Delete {kind} `{messages.escape_markdown(path.name)}` and every file in it? This cannot be "
                    "undone; download it first to keep a copy.")
        if st.button(f"Delete {kind} {path.name} for good", type="primary", key=f"{key}_delete"):
            try:
                if kind == "campaign":
                    delete_campaign(path)
                else:
                    delete_run(path)
            except (InputError, OSError) as err:
                st.error(messages.one_line(err))
                return
            st.session_state[state.NOTICE] = ("success", f"Deleted {kind} `{messages.escape_markdown(path.name)}`.")
            st.rerun()
