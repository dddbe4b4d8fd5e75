"""Long work (training, building, campaign steps, inpainting) started from the pages: one starter per
kind of job, each running its :mod:`core` call through the job runner (:mod:`app.jobs.runner`).
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable

import streamlit as st

from core.errors import Cancelled, InputError
from core.runs.names import release_run_dir
from core.tables.validated import ValidatedTable

from app.jobs.runner import (
    BASELINE_JOB, BUILD_JOB, FID_JOB, INPAINT_JOB, JOB, LOOP_JOB, REFIT_JOB, Job, start_job, stopping)


def start_training(table: ValidatedTable, expression: str, out: Path, *, dataset: str | None,
                   model_config: Any, train_config: Any) -> Job:
    """Train in a thread (``core.workflow.train_from_table``) into ``out``, a directory claimed with
    ``core.runs.names.claim_run_dir`` (given back if training fails or is cancelled); the job id goes to ``JOB``."""
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

    return start_job(job, JOB, work, on_failure=lambda: release_run_dir(out))


def start_build(path: str, stamp: float, top: int, k: int, readout: str = "", limits: tuple = (),
                order: str = "") -> Job:
    """Build architectures in a thread (``core.building.builder.build_architectures``); job id goes to ``BUILD_JOB``.

    ``readout``: a ``core.building.builder.UNIT_HOPS`` key for spaces with units, a ``CELL_SCORES`` key otherwise
    ("" for the defaults); ``limits``: core.building.constraints.Constraint objects; ``order``: a
    ``MODULE_ORDERS`` key for a cell build ("" for the default)."""
    from app.run_cache import load_run
    from core.building.builder import build_architectures
    from core.building.config import CELL_SCORES, MODULE_ORDERS, UNIT_HOPS, BuildConfig

    job = Job(id=uuid.uuid4().hex, kind="build", label=Path(path).name,
              key=(path, stamp, top, k, readout, order, limits))
    settings = ({"unit_hop": readout} if readout in UNIT_HOPS
                else {"cell_score": readout} if readout in CELL_SCORES else {})
    if order in MODULE_ORDERS:
        settings["module_order"] = order

    def progress(stage: str, fraction: float) -> None:
        job.stage, job.fraction = stage, float(fraction)

    def work(job: Job) -> Any:
        try:
            config = BuildConfig(top=top, k=k, constraints=tuple(limits), **settings)
        except ValueError as err:  # the config's own validation of the page's choices
            raise InputError(str(err)) from None
        return build_architectures(load_run(path, stamp), config, progress=stopping(job, progress))

    return start_job(job, BUILD_JOB, work)


def start_baseline(path: str, stamp: float, top: int) -> Job:
    """The run's regression head's top ``top`` over its whole space, in a thread
    (``core.building.head_top.head_top``, with the looked-up true metrics of
    ``core.building.builder.with_lookup``); Cancel stops it after the batch in flight. Job id goes to ``BASELINE_JOB``."""
    from app.run_cache import load_run
    from core.building.head_top import head_top
    from core.building.lookup import with_lookup

    job = Job(id=uuid.uuid4().hex, kind="baseline", label=Path(path).name, key=(path, stamp, top))

    def progress(done: int, total: int | None) -> None:
        job.fraction = done / total if total else 0.0
        job.stage = f"{done:,} of {total:,} scored" if total else f"{done:,} scored"

    def work(job: Job) -> Any:
        run = load_run(path, stamp)
        job.stage = f"scoring {run.space.size():,} architectures"
        return with_lookup(run, head_top(run, top, progress=stopping(job, progress)))

    return start_job(job, BASELINE_JOB, work)


def start_refits(path: str, stamp: float, resamples: int) -> Job:
    """Refit the run's predictor on ``resamples`` random halves of its table in a thread
    (``core.scoring.resample_stability.resample_top_counts``) and count, per module of its ranking, the refits
    that keep it in its hop's top 10. It trains, so it waits for a training slot; Cancel stops it after the
    refit in flight and nothing is kept. The result is the counts (indexed by hop and signature, as the
    ranking's rows); the job id goes to ``REFIT_JOB``."""
    import pandas as pd

    from app.run_cache import load_run, module_scores, run_table, run_targets
    from core.scoring.resample_stability import ResampleConfig, resample_top_counts
    from core.scoring.space_estimate import draw_pool

    job = Job(id=uuid.uuid4().hex, kind="refit", label=Path(path).name, key=(path, stamp, resamples),
              total=resamples)

    def progress(done: int, total: int) -> None:
        job.fraction, job.stage = done / max(total, 1), f"{done}/{total} refits"

    def work(job: Job) -> Any:
        try:
            config = ResampleConfig(resamples=resamples)
        except ValueError as err:  # the config's own validation of the page's choice
            raise InputError(str(err)) from None
        run, table = load_run(path, stamp), run_table(path, stamp)
        rankings = module_scores(path, stamp).rankings
        job.stage = f"0/{resamples} refits"
        return resample_top_counts(run, table.graphs, run_targets(path, stamp),
                                   pd.MultiIndex.from_frame(rankings[["hop", "signature"]]),
                                   draw_pool(run, table.frame["arch"].astype(str)), config,
                                   progress=stopping(job, progress))

    return start_job(job, REFIT_JOB, work)


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

    return start_job(job, INPAINT_JOB, work)


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

    return start_job(job, INPAINT_JOB, work)


def start_fid(records: list[dict], reference: str, cache_dir: str | None) -> Job:
    """FID of each architecture folder in ``records`` (``name``, ``folder``) against ``reference``, in a
    thread (``core.diffusion.fid.fid_between_dirs``), each written to the folder's ``fid.json`` as it is
    done. Cancel stops between images (through the progress callback); the FIDs already written stay.
    The job id goes to ``FID_JOB``; the result is {"done": [names], "errors": [lines]}."""
    from core.diffusion.fid import fid_between_dirs, write_fid_record

    job = Job(id=uuid.uuid4().hex, kind="fid", label=f"{len(records)} architecture(s)", key=reference,
              total=len(records))

    def work(job: Job) -> Any:
        done: list[str] = []
        errors: list[str] = []
        for i, record in enumerate(records):
            def progress(role: str, n: int, total: int, i: int = i, name: str = record["name"]) -> None:
                job.stage = f"{name}: {role} images {n}/{total}"
                job.fraction = (i + (n / max(total, 1)) * (0.5 if role == "generated" else 1.0)) / len(records)
            try:
                result = fid_between_dirs(record["folder"], reference, cache_dir=cache_dir,
                                          progress=stopping(job, progress))
            except Cancelled:
                break  # stopped: the FIDs written so far stay; the job ends as "stopped"
            except InputError as err:
                errors.append(f"{record['name']}: {err}")
                continue
            write_fid_record(result, Path(record["folder"]) / "fid.json")
            done.append(record["name"])
        return {"done": done, "errors": errors}

    return start_job(job, FID_JOB, work)


@st.cache_resource(max_entries=1, show_spinner=False)
def _pipeline(model_dir: str):
    """The SD inpainting pipeline, loaded once and shared (run_inpainting never modifies it)."""
    from core.diffusion.pipeline import load_pipeline

    return load_pipeline(model_dir)


def _campaign_progress(job: Job) -> Callable[[str, int, int], None]:
    """core.campaign.campaign's progress(message, done, total) as the job's stage and fraction."""
    def progress(message: str, done: int, total: int) -> None:
        job.stage, job.fraction = message, done / max(total, 1)
    return progress


def start_propose(path: str, n: int, drop_pending: bool = False) -> Job:
    """Open a campaign's next round in a thread (``Campaign.propose``: retrain, then propose ``n``); the
    job id goes to ``LOOP_JOB``. It retrains a predictor, so it waits for a training slot."""
    from core.campaign.campaign import Campaign

    job = Job(id=uuid.uuid4().hex, kind="propose", label=Path(path).name, key=path)

    def work(job: Job) -> Any:
        return Campaign.open(path).propose(n, drop_pending=drop_pending, progress=_campaign_progress(job))

    return start_job(job, LOOP_JOB, work)


def start_evaluate(path: str) -> Job:
    """Evaluate a campaign's pending proposals in a thread (``Campaign.evaluate_pending``, here, one at a
    time); ``job.stop`` is its ``should_stop``, so Cancel ends it after the evaluation in flight and
    everything finished so far stays recorded. The job id goes to ``LOOP_JOB``."""
    from core.campaign.campaign import Campaign
    from core.evaluators.executors import LocalExecutor

    job = Job(id=uuid.uuid4().hex, kind="evaluate", label=Path(path).name, key=path)

    def work(job: Job) -> Any:
        campaign = Campaign.open(path)
        job.total = len(campaign.pending())
        return campaign.evaluate_pending(LocalExecutor(), progress=_campaign_progress(job),
                                         should_stop=job.stop.is_set)

    return start_job(job, LOOP_JOB, work)
