"""Long work (training, building, campaign steps) in background threads, and the server's training queue.

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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import streamlit as st

from core.errors import Cancelled, InputError
from core.runs import release_run_dir
from core.tables import ValidatedTable

from app import state
from app.training_queue import TrainingSlots

#: Environment variable bounding concurrent training jobs per server (default: half the CPU cores, at least 1).
TRAINING_LIMIT_ENV = "AUTOBUILD_TRAINING_JOBS"
#: Kinds of job that train a predictor and so wait for a slot.
TRAINING_KINDS = ("train", "propose")
RUNNING_STATES = ("queued", "running")

# Session-state keys of this session's jobs (ids into the registry).
JOB = "ab_job"                  # training job
BUILD_JOB = "ab_build_job"      # build job
LOOP_JOB = "ab_loop_job"        # campaign job (propose or evaluate)
BASELINE_JOB = "ab_baseline_job"  # the regression head's top N over the whole space
COMPARE_JOB = "ab_compare_job"  # two runs' module rankings side by side
INPAINT_JOB = "ab_inpaint_job"  # inpainting with the small model or an SD pipeline


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
    kind: str                      # "train" | "build" | "propose" | "evaluate" | "baseline" | "inpaint"
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
            job.error = state.one_line(err)
        else:  # a bug: log the traceback for the developer, one line for the user
            state.LOG.exception("%s job %s failed with an internal error", job.kind, job.id)
            job.error = state.internal_error_line(job.kind, err)
        job.status = "failed"
        if on_failure:
            on_failure()
    finally:
        if slots is not None:
            slots.release(job.id)
        job.fraction = 1.0
        job.finished_at = time.time()


def _start(job: Job, session_key: str, work: Callable[[Job], Any],
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


def start_training(table: ValidatedTable, expression: str, out: Path, *, dataset: str | None,
                   model_config: Any, train_config: Any) -> Job:
    """Train in a thread (``core.workflow.train_from_table``) into ``out``, a directory claimed with
    ``core.runs.claim_run_dir`` (given back if training fails or is cancelled); the job id goes to ``JOB``."""
    from core.workflow import train_from_table

    job = Job(id=uuid.uuid4().hex, kind="train", label=out.name, key=str(out), total=train_config.epochs)

    def progress(report: Any) -> None:
        job.history.append(dict(vars(report)))
        job.total = report.epochs  # core may train longer than asked (min_steps on small tables)
        job.fraction = report.epoch / max(report.epochs, 1)
        job.stage = f"epoch {report.epoch}/{report.epochs}"

    def work(job: Job) -> Any:
        return train_from_table(table, expression, out, dataset=dataset, model_config=model_config,
                                train_config=train_config, progress=progress, should_stop=job.stop.is_set)

    return _start(job, JOB, work, on_failure=lambda: release_run_dir(out))


def start_build(path: str, stamp: float, top: int, k: int, readout: str = "", limits: tuple = ()) -> Job:
    """Build architectures in a thread (``core.build.build_architectures``); job id goes to ``BUILD_JOB``.

    ``readout``: a ``core.build.UNIT_HOPS`` key for spaces with units, a ``CELL_SCORES`` key otherwise
    ("" for the defaults); ``limits``: core.constraints.Constraint objects."""
    from core.build import CELL_SCORES, UNIT_HOPS, BuildConfig, build_architectures

    from app.run_cache import load_run

    job = Job(id=uuid.uuid4().hex, kind="build", label=Path(path).name, key=(path, stamp, top, k, readout, limits))
    settings = ({"unit_hop": readout} if readout in UNIT_HOPS
                else {"cell_score": readout} if readout in CELL_SCORES else {})

    def progress(stage: str, fraction: float) -> None:
        job.stage, job.fraction = stage, float(fraction)

    def work(job: Job) -> Any:
        try:
            config = BuildConfig(top=top, k=k, constraints=tuple(limits), **settings)
        except ValueError as err:  # the config's own validation of the page's choices
            raise InputError(str(err)) from None
        return build_architectures(load_run(path, stamp), config, progress=stopping(job, progress))

    return _start(job, BUILD_JOB, work)


def stopping(job: Job, progress: Callable[..., None]) -> Callable[..., None]:
    """``progress`` that raises :class:`core.errors.Cancelled` once the job's stop is set: how Cancel stops a
    core function that reports progress between its chunks but takes no ``should_stop``."""
    def report(*args: Any) -> None:
        progress(*args)
        if job.stop.is_set():
            raise Cancelled(f"{job.kind} was cancelled")
    return report


def start_baseline(path: str, stamp: float, top: int) -> Job:
    """The run's regression head's top ``top`` over its whole space, in a thread
    (``core.head_top.head_top``, with the looked-up true metrics of
    ``core.build.with_lookup``); Cancel stops it after the batch in flight. Job id goes to ``BASELINE_JOB``."""
    from core.build import with_lookup
    from core.head_top import head_top

    from app.run_cache import load_run

    job = Job(id=uuid.uuid4().hex, kind="baseline", label=Path(path).name, key=(path, stamp, top))

    def progress(done: int, total: int | None) -> None:
        job.fraction = done / total if total else 0.0
        job.stage = f"{done:,} of {total:,} scored" if total else f"{done:,} scored"

    def work(job: Job) -> Any:
        run = load_run(path, stamp)
        job.stage = f"scoring {run.space.size():,} architectures"
        return with_lookup(run, head_top(run, top, progress=stopping(job, progress)))

    return _start(job, BASELINE_JOB, work)


def start_study_inpaint(model_dir: str, spec: str, label: str, originals: list, masks: list, steps: int,
                        stems: list[str]) -> Job:
    """Inpaint image files with one architecture of the small model in a thread
    (``core.diffusion.study.inpaint_files``); Cancel stops it between denoising steps and nothing is kept.
    The result is ``{"label", "stems", "images"}``; the job id goes to ``INPAINT_JOB``."""
    from core.diffusion.study import inpaint_files

    job = Job(id=uuid.uuid4().hex, kind="inpaint", label=label, key=tuple(stems), total=len(stems))

    def progress(done: int, total: int) -> None:
        job.fraction, job.stage = done / max(total, 1), f"{done}/{total} image(s)"

    def work(job: Job) -> Any:
        job.stage = f"0/{len(stems)} image(s)"
        images = inpaint_files(_small_model(model_dir), spec, originals, masks, steps=steps, progress=progress,
                               should_stop=job.stop.is_set)
        return {"label": label, "stems": stems, "images": dict(zip(stems, images))}

    return _start(job, INPAINT_JOB, work)


@st.cache_resource(max_entries=1, show_spinner=False)
def _small_model(folder: str):
    """The small inpainting model, loaded once and shared (inpainting never modifies it)."""
    from core.diffusion.small_model import load_model

    return load_model(folder)


def start_pipeline_inpaint(model_dir: str, archs: list, inputs: list, root: str, *, steps: int, seed: int,
                           guidance: float) -> Job:
    """Inpaint with a diffusers SD inpainting pipeline in a thread (``core.diffusion.pipeline.run_inpainting``);
    Cancel stops it between denoising steps, keeping only the architectures already finished. Job id goes
    to ``INPAINT_JOB``; the result is the manifest of the images written."""
    from core.diffusion.pipeline import run_inpainting

    total = len(archs) * len(inputs)
    job = Job(id=uuid.uuid4().hex, kind="inpaint", label=Path(root).name, key=root, total=total)

    def progress(done: int, total: int, message: str) -> None:
        job.fraction, job.stage = done / max(total, 1), f"{done}/{total} · {message}"

    def work(job: Job) -> Any:
        job.stage = f"loading the pipeline; then {total} image(s)"
        return run_inpainting(_pipeline(model_dir), archs, inputs, root, steps=steps, seed=seed,
                              guidance_scale=guidance, model_dir=model_dir, progress=progress,
                              should_stop=job.stop.is_set)

    return _start(job, INPAINT_JOB, work)


@st.cache_resource(max_entries=1, show_spinner=False)
def _pipeline(model_dir: str):
    """The SD inpainting pipeline, loaded once and shared (run_inpainting never modifies it)."""
    from core.diffusion.pipeline import load_pipeline

    return load_pipeline(model_dir)


def _campaign_progress(job: Job) -> Callable[[str, int, int], None]:
    """core.campaign's progress(message, done, total) as the job's stage and fraction."""
    def progress(message: str, done: int, total: int) -> None:
        job.stage, job.fraction = message, done / max(total, 1)
    return progress


def start_propose(path: str, n: int, drop_pending: bool = False) -> Job:
    """Open a campaign's next round in a thread (``Campaign.propose``: retrain, then propose ``n``); the
    job id goes to ``LOOP_JOB``. It retrains a predictor, so it waits for a training slot."""
    from core.campaign import Campaign

    job = Job(id=uuid.uuid4().hex, kind="propose", label=Path(path).name, key=path)

    def work(job: Job) -> Any:
        return Campaign.open(path).propose(n, drop_pending=drop_pending, progress=_campaign_progress(job))

    return _start(job, LOOP_JOB, work)


def start_evaluate(path: str) -> Job:
    """Evaluate a campaign's pending proposals in a thread (``Campaign.evaluate_pending``, here, one at a
    time); ``job.stop`` is its ``should_stop``, so Cancel ends it after the evaluation in flight and
    everything finished so far stays recorded. The job id goes to ``LOOP_JOB``."""
    from core.campaign import Campaign
    from core.evaluators.executors import LocalExecutor

    job = Job(id=uuid.uuid4().hex, kind="evaluate", label=Path(path).name, key=path)

    def work(job: Job) -> Any:
        campaign = Campaign.open(path)
        job.total = len(campaign.pending())
        return campaign.evaluate_pending(LocalExecutor(), progress=_campaign_progress(job),
                                         should_stop=job.stop.is_set)

    return _start(job, LOOP_JOB, work)
