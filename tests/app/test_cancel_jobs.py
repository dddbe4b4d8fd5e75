"""Cancel in the dashboard's jobs stops the work in core between chunks and keeps nothing.

A build and the regression head's top N over the whole space report progress between their chunks;
``app.jobs.launch.stopping`` turns the job's stop event into core's Cancelled there. (Inpainting takes a
``should_stop`` of its own: tests/diffusion/test_cancel.py and tests/diffusion/test_inpainting_page.py.)
"""
from __future__ import annotations

import pandas as pd
import pytest

from app import jobs
from app.jobs import runner
from core.errors import Cancelled
from tests.app.apptest import CORA

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from core.predictor import PredictorConfig, TrainConfig
    from core.runs.run import Run
    from core.tables.validated import load_table
    from core.workflow import train_from_table

    path = tmp_path_factory.mktemp("cancel") / "tiny"
    train_from_table(load_table(CORA, "nasbench-graph"), "valid_perf", path, dataset="cora",
                     model_config=PredictorConfig(width=8, layers=2),
                     train_config=TrainConfig(epochs=2, eval_every=1, min_steps=0))
    return Run.load(path)


def stop_on_report(job: jobs.Job, after: int, seen: list):
    """A progress callback that records each report and presses Cancel at the ``after``-th."""
    def progress(*args) -> None:
        seen.append(args)
        if len(seen) == after:
            job.stop.set()
    return jobs.stopping(job, progress)


@pytest.mark.slow
def test_cancelled_build_stops_at_the_next_report(tiny_run):
    from core.building.builder import build_architectures
    from core.building.config import BuildConfig

    job = jobs.Job(id="b", kind="build", label="tiny")
    seen: list = []
    with pytest.raises(Cancelled):
        build_architectures(tiny_run, BuildConfig(top=3, k=2), progress=stop_on_report(job, 1, seen))
    assert len(seen) == 1  # nothing after the report at which Cancel was pressed
    # Not cancelled, the wrapper changes nothing.
    plain = build_architectures(tiny_run, BuildConfig(top=3, k=2))
    wrapped = build_architectures(tiny_run, BuildConfig(top=3, k=2),
                                  progress=jobs.stopping(jobs.Job(id="c", kind="build", label="t"), lambda *a: None))
    pd.testing.assert_frame_equal(plain.built, wrapped.built)


def test_cancelled_baseline_stops_at_the_next_report(tiny_run):
    from core.building.head_top import head_top

    job = jobs.Job(id="e", kind="baseline", label="tiny")
    seen: list = []
    with pytest.raises(Cancelled):
        head_top(tiny_run, 5, batch_size=2048, progress=stop_on_report(job, 1, seen))
    assert len(seen) == 1  # no batch scored after the report at which Cancel was pressed


def test_a_job_whose_core_raises_cancelled_ends_cancelled_and_gives_its_claim_back():
    released = []
    job = jobs.Job(id="j", kind="build", label="x")
    job.stop.set()

    def work(job: jobs.Job):
        jobs.stopping(job, lambda *a: None)("stage", 0.5)
        return "never"

    runner._run(job, work, None, lambda: released.append(True))
    assert job.status == "cancelled" and job.result is None and job.error is None and released == [True]
