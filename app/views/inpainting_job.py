"""This session's inpainting job on the Inpainting page (app/views/inpainting.py): whether one is running,
its progress bar and Cancel, and its result taken over once finished (both tabs start one)."""
from __future__ import annotations

import streamlit as st

from app import jobs, state, widgets


def inpaint_running() -> bool:
    job = jobs.session_job(jobs.INPAINT_JOB)
    return job is not None and not job.finished


def draw_inpaint(job: jobs.Job) -> None:
    st.progress(min(1.0, job.fraction), text=f"Inpainting `{job.label}` · {job.stage} · {job.elapsed:.0f} s")
    widgets.stop_button(job, "Cancel", "Cancelling...", key="cancel_inpaint",
                        help="Stop after the denoising step in flight; images of an unfinished architecture "
                             "are not kept.")


def inpaint_progress() -> None:
    """This session's inpainting job: its result taken over once finished, its live progress meanwhile."""
    job = jobs.collect_finished_job(jobs.INPAINT_JOB, "inpainting")
    if job is not None:
        if isinstance(job.result, dict):  # the small model's images of the shown page
            st.session_state["study_extra"] = job.result
            st.session_state[state.NOTICE] = ("success", f"Inpainted {len(job.result['stems'])} image(s) with "
                                                         f"`{job.result['label']}` in {job.elapsed:.1f} s.")
        else:
            st.session_state[state.NOTICE] = ("success", f"Wrote {len(job.result)} images to `{job.key}`.")
    widgets.show_notice()
    widgets.follow_job(jobs.INPAINT_JOB, "Inpainting", draw_inpaint)
