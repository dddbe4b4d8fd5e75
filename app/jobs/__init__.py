"""Background jobs of the dashboard: what a page starts, how it runs, and the training queue.

- :mod:`app.jobs.runner`: the job registry, the thread a job runs in, cancelling, and the session keys
  under which pages find their jobs;
- :mod:`app.jobs.launch`: one starter per kind of work (train, build, baseline, propose, evaluate, inpaint);
- :mod:`app.jobs.training_queue`: at most ``AUTOBUILD_TRAINING_JOBS`` trainings at once, first come first served.

This file is the package's face: pages write ``from app import jobs`` and ``jobs.start_training(...)``,
``jobs.Job``. It may import streamlit and :mod:`core`; nothing in :mod:`core` imports it.
"""
from app.jobs.launch import (start_baseline, start_build, start_evaluate, start_fid, start_pipeline_inpaint,
                             start_propose, start_refits, start_study_inpaint, start_training)
from app.jobs.runner import (BASELINE_JOB, BUILD_JOB, COMPARE_JOB, FID_JOB, INPAINT_JOB, JOB, LOOP_JOB, REFIT_JOB,
                             RUNNING_STATES,
                             TRAINING_KINDS, TRAINING_LIMIT_ENV, Job, collect_finished_job, forget_job, get_job,
                             session_job, stopping, training_limit, training_load)

__all__ = ["start_baseline", "start_build", "start_evaluate", "start_fid", "start_pipeline_inpaint", "start_propose",
           "start_refits", "start_study_inpaint", "start_training", "BASELINE_JOB", "BUILD_JOB", "COMPARE_JOB", "FID_JOB", "INPAINT_JOB",
           "JOB",
           "LOOP_JOB", "REFIT_JOB", "RUNNING_STATES", "TRAINING_KINDS", "TRAINING_LIMIT_ENV", "Job", "collect_finished_job",
           "forget_job", "get_job", "session_job", "stopping", "training_limit", "training_load"]
