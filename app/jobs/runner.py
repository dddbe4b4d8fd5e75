"""Background jobs: the registry (one per server process), the thread that runs a job, and the
server's training queue (app/jobs/launch.py starts the jobs each page needs).

Pages start a job, remember its id in their browser session (``st.session_state``), and poll it; the
registry of jobs is one per server process, but a session only ever sees the ids it started. The thread
only calls :mod:`core`. Work that trains a predictor (a training run, a campaign's propose step) takes a
slot of :class:`TrainingSlots`: at most :func:`training_limit` train at once, the rest wait first come
first served and their page shows their place in the queue, so ten users pressing Train on a two-core
server get runs one after another instead of ten runs that all crawl.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st

from app import messages, state
from app.jobs.training_queue import TrainingSlots
from core.errors import Cancelled, InputError

#: Environment variable bounding concurrent training jobs per server (default: half the CPU cores, at least 1).
TRAINING_LIMIT_ENV = "AUTOBUILD_TRAINING_JOBS"
#: Kinds of job that train a predictor and so wait for a slot.
TRAINING_KINDS = ("train", "propose", "refit")
RUNNING_STATES = ("queued", "running")

# Session-state keys of this session's jobs (ids into the registry).
JOB = "ab_job"                  # training job
BUILD_JOB = "ab_build_job"      # build job
LOOP_JOB = "ab_loop_job"        # campaign job (propose or evaluate)
BASELINE_JOB = "ab_baseline_job"  # the regression head's top N over the whole space
COMPARE_JOB = "ab_compare_job"  # two runs' module rankings side by side
INPAINT_JOB = "ab_inpaint_job"  # inpainting with the small model or an SD pipeline
FID_JOB = "ab_fid_job"          # FID of inpainting outputs against the reference images
REFIT_JOB = "ab_refit_job"      # a run's predictor refit on halves of its table (the Modules page's stability)


def training_limit() -> int:
    """How many predictors this server trains at once: ``$AUTOBUILD_TRAINING_JOBS``, else half the cores."""
    value = os.environ.get(TRAINING_LIMIT_ENV, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass
class Job:
    """One piece of long work. Pages poll ``fraction``, ``stage``, ``history`` and ``queue_position``;
    ``stop`` is handed to core as its ``should_stop``. A finished job has ``status`` done, stopped
    (ended early, result kept), cancelled (stopped while queued, or core raised Cancelled: nothing was
    kept) or failed, and
    ``result`` (a TrainOutcome, BuildResult, ...) or ``error`` (one line)."""

    id: str
    kind: str                      # "train" | "build" | "propose" | "evaluate" | "baseline" | "inpaint" | "refit"
    label: str
    key: Any = None                # what the result belongs to (a run dir, a build's inputs, a campaign)
    total: int = 1                 # epochs for training, proposals for evaluation
    history: list[dict] = field(default_factory=list)
    stage: str = "starting"
    fraction: float = 0.0
    status: str = "running"        # queued | running | done | stopped | cancelled | failed
    error: str | None = None
    result: Any = None
    started: float = field(default_factory=time.time)
    finished_at: float | None = None
    started_work: float | None = None  # when the work itself began (after any wait in the queue)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return self.status not in RUNNING_STATES

    @property
    def queued(self) -> bool:
        return self.status == "queued"

    @property
    def queue_position(self) -> int | None:
        """1 for the next job to start; None once running."""
        return _slots().position(self.id) if self.queued else None

    @property
    def epoch(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.time()) - self.started


@st.cache_resource(show_spinner=False)
def _jobs() -> dict[str, Job]:
    return {}


@st.cache_resource(show_spinner=False)
def _slots() -> TrainingSlots:
    return TrainingSlots(training_limit)


def training_load() -> tuple[int, int, int]:
    """(training now, waiting, limit) on this server, for the queue notice."""
    slots = _slots()
    return slots.running, slots.waiting, training_limit()


def get_job(job_id: str | None) -> Job | None:
    return _jobs().get(job_id) if job_id else None


def session_job(session_key: str) -> Job | None:
    """This session's job stored under ``session_key`` (None if it has none)."""
    return get_job(st.session_state.get(session_key))


def forget_job(job_id: str) -> None:
    """Drop a finished job whose result the page has taken over."""
    _jobs().pop(job_id, None)


def collect_finished_job(session_key: str, what: str) -> Job | None:
    """Take this session's finished job out of the registry; a failed one becomes an error notice and a
    cancelled one an information notice. Returns the job when it succeeded or was stopped, else None."""
    job = session_job(session_key)
    if job is None or not job.finished:
        return None
    del st.session_state[session_key]
    forget_job(job.id)
    if job.status == "failed":
        st.session_state[state.NOTICE] = ("error", job.error or f"{what} failed")
        return None
    if job.status == "cancelled":
        when = "before it started" if job.started_work is None else f"after {job.elapsed:.0f} s"
        st.session_state[state.NOTICE] = ("info", f"{what.capitalize()} `{job.label}` was cancelled {when}; "
                                                  "nothing was saved.")
        return None
    return job


def _prune(max_age_s: float = 3600.0) -> None:
    """Forget finished jobs nobody collected (e.g. their browser tab was closed) after an hour."""
    now = time.time()
    jobs = _jobs()
    for job_id, job in list(jobs.items()):
        if job.finished and job.finished_at is not None and now - job.finished_at > max_age_s:
            jobs.pop(job_id, None)


def _run(job: Job, work: Callable[[Job], Any], slots: TrainingSlots | None,
         on_failure: Callable[[], None] | None) -> None:
    """The thread's body: wait for a training slot (``slots``) if given, do the work, record the end."""
    try:
        if slots is not None and not slots.acquire(job.id, job.stop.is_set):
            job.status = "cancelled"
            if on_failure:
                on_failure()
            return
        job.status, job.started = "running", time.time()
        job.started_work = job.started
        job.result = work(job)
        job.status = "stopped" if job.stop.is_set() else "done"
    except Cancelled:  # core stopped between chunks on job.stop and kept nothing
        job.status = "cancelled"
        if on_failure:
            on_failure()
    except Exception as err:  # noqa: BLE001 - the page must stay alive whatever happens in the thread
        if isinstance(err, InputError):  # the only user error: its message is the whole story
            job.error = messages.one_line(err)
        else:  # a bug: log the traceback for the developer, one line for the user
            messages.LOG.exception("%s job %s failed with an internal error", job.kind, job.id)
            job.error = messages.internal_error_line(job.kind, err)
        job.status = "failed"
        if on_failure:
            on_failure()
    finally:
        if slots is not None:
            slots.release(job.id)
        job.fraction = 1.0
        job.finished_at = time.time()


def start_job(job: Job, session_key: str, work: Callable[[Job], Any],
           on_failure: Callable[[], None] | None = None) -> Job:
    slots = _slots() if job.kind in TRAINING_KINDS else None
    if slots is not None:
        job.status = "queued"  # until the thread holds a slot; the page shows the queue meanwhile
    job.thread = threading.Thread(target=_run, args=(job, work, slots, on_failure), daemon=True,
                                  name=f"autobuild-{job.kind}-{job.id[:8]}")
    _prune()
    _jobs()[job.id] = job
    st.session_state[session_key] = job.id
    job.thread.start()
    return job


def stopping(job: Job, progress: Callable[..., None]) -> Callable[..., None]:
    """``progress`` that raises :class:`core.errors.Cancelled` once the job's stop is set: how Cancel stops a
    core function that reports progress between its chunks but takes no ``should_stop``."""
    def report(*args: Any) -> None:
        progress(*args)
        if job.stop.is_set():
            raise Cancelled(f"{job.kind} was cancelled")
    return report
