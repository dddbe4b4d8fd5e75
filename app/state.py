"""Session-state keys, cached loaders and the background training jobs shared by the pages.

Widgets forget their value when the page that draws them is not shown, so every choice that matters
on another page (the table, the space, the dataset, the target, the run) is copied into one of the
``ab_*`` keys below. Frames and parsed tables are cached with ``st.cache_data`` (each caller gets a
copy); loaded runs (a torch model) with ``st.cache_resource`` (shared: never mutate one).
Everything computational is delegated to :mod:`core`; this module only caches and remembers it.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st

import torch

from core.errors import InputError
from core.runs import CONFIG_FILE, Run, RunSummary, list_runs
from core.spaces import get_space, onnx_upload, space_names
from core.tables import FORMATS, ValidatedTable, load_table, read_table, validate_table
from core.targets import TargetValues, evaluate_target, parse_target

# Architecture graphs are tiny: torch's default of one thread per core makes every training step
# wait on synchronisation (the CLI's --threads defaults to 1 for the same reason; a round of a
# campaign took 214-553 s here with 2 threads under load, 6-10 s with 1). The server trains in
# background threads, so the setting is process-wide.
torch.set_num_threads(1)

#: Where the dashboard logs bugs with their tracebacks (the page shows one line).
LOG = logging.getLogger("autobuild.app")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
DEFAULT_TABLE = SAMPLE_DIR / "nasbench-graph_cora_300.csv"
DEFAULT_SPACE = "nasbench-graph"
DEFAULT_DATASET = "cora"
DEFAULT_TARGET = "valid_perf"
RUNS_ENV = "AUTOBUILD_RUNS_DIR"
CAMPAIGNS_ENV = "AUTOBUILD_CAMPAIGNS_DIR"

# ------------------------------------------------------------------------ session-state keys
TABLE = "ab_table"              # the ValidatedTable in use
TABLE_LABEL = "ab_table_label"  # where it came from, for captions
SPACE = "ab_space"              # its space name
DATASET = "ab_dataset"          # the benchmark dataset for look-ups (None for user tables)
TARGET = "ab_target"            # the target expression
RUN = "ab_run"                  # path (str) of the run in use
JOB = "ab_job"                  # id of this session's training job
BUILD_JOB = "ab_build_job"      # id of this session's build job
BUILDS = "ab_builds"            # (run path, stamp, top, k, readout, limits) -> BuildResult of this session
NOTICE = "ab_notice"            # a one-time message for the next page render
CAMPAIGN = "ab_campaign"        # path (str) of the campaign in use (Loop page)
LOOP_JOB = "ab_loop_job"        # id of this session's campaign job (propose or evaluate)


def runs_dir() -> Path:
    """Where runs live: ``$AUTOBUILD_RUNS_DIR`` or ``runs/`` in the project."""
    value = os.environ.get(RUNS_ENV)
    return Path(value).expanduser() if value else ROOT / "runs"


def campaigns_dir() -> Path:
    """Where campaigns live: ``$AUTOBUILD_CAMPAIGNS_DIR``, else ``campaigns/`` beside the runs folder, so
    whatever moves the runs (``$AUTOBUILD_RUNS_DIR``: a deployment, a test's temporary folder) moves them too."""
    value = os.environ.get(CAMPAIGNS_ENV)
    return Path(value).expanduser() if value else runs_dir().parent / "campaigns"


def remember(name: str, default: Any = None) -> str:
    """The widget key for a choice persisted under ``name``; seeds the widget from the saved value.

    Draw the widget with ``key=remember(name, default)`` and call :func:`keep` with its value after.
    """
    widget = f"_w_{name}"
    if widget not in st.session_state:
        st.session_state[widget] = st.session_state.get(name, default)
    return widget


def keep(name: str, value: Any) -> Any:
    st.session_state[name] = value
    return value


def select(label: str, options: list, name: str, default: Any = None, *, widget: str = "selectbox",
           **kwargs: Any) -> Any:
    """A select box (or radio) whose choice persists under ``name`` across pages.

    A remembered value that is no longer among ``options`` (e.g. after the table changed) falls back to
    ``default`` (or the first option).
    """
    options = list(options)
    if not options:
        return None
    fallback = default if default in options else options[0]
    saved = st.session_state.get(name, fallback)
    if saved not in options:
        saved = fallback
        st.session_state[name] = fallback
    key = f"_w_{name}"
    if key not in st.session_state or st.session_state[key] not in options:
        st.session_state[key] = saved
    draw = st.radio if widget == "radio" else st.selectbox
    value = draw(label, options, key=key, **kwargs)
    st.session_state[name] = value
    return value


def internal_error_line(what: str, err: BaseException) -> str:
    """The one line shown for a bug (not the user's fault); the caller logs the traceback with ``LOG``."""
    return (f"internal error in {what} (a bug, not a problem with your input): {type(err).__name__}: "
            f"{one_line(err)}; the traceback is in the server log")


def one_line(err: BaseException) -> str:
    """The first line of an error message (InputError messages are one line already), escaped for
    ``st.error``'s Markdown: user text such as ``__import__`` or ``a*b`` is shown as written."""
    text = str(err).strip()
    return escape_markdown(text.splitlines()[0]) if text else type(err).__name__


def escape_markdown(text: str) -> str:
    """``text`` with the characters Streamlit's Markdown would act on backslash-escaped."""
    return re.sub(r"([\\`*_~$\[\]<>])", r"\\\1", text)


def pop_notice() -> str | None:
    return st.session_state.pop(NOTICE, None)


# ------------------------------------------------------------------------------ tables

def bundled_tables() -> list[Path]:
    """The sample tables in ``sample_data/``, the default one first."""
    found = sorted(p for p in SAMPLE_DIR.iterdir() if p.is_file() and _is_table(p.name))
    return sorted(found, key=lambda p: p != DEFAULT_TABLE)


def _is_table(name: str) -> bool:
    return any(name.lower().endswith(ext) for ext in FORMATS)


def infer_space_dataset(file_name: str) -> tuple[str | None, str | None]:
    """Space and dataset named in a file name, e.g. ``nasbench-graph_cora_300.csv`` -> (nasbench-graph, cora).

    The name is split at ``_``, ``.`` and spaces; a part equal to a space name gives the space, and a
    part equal to one of that space's datasets the dataset. Unknown parts give None.
    """
    name = Path(file_name).name.lower()
    tokens = [t for t in re.split(r"[_.\s]+", name) if t]
    dashed = re.sub(r"[_\s]+", "-", name)  # ofa_mbv3_latency.csv names the space ofa-mbv3
    space = next((t for t in tokens if t in space_names()), None) or next(
        (s for s in sorted(space_names(), key=len, reverse=True) if dashed.startswith((s + "-", s + "."))), None)
    dataset = None
    if space:
        dataset = next((t for t in tokens if t in get_space(space).datasets), None)
    return space, dataset


@st.cache_data(show_spinner=False, max_entries=8)
def bundled_table(path: str, space: str) -> ValidatedTable:
    return load_table(path, space, name=Path(path).name)


@st.cache_data(show_spinner=False, max_entries=16)
def read_raw(data: bytes, name: str) -> pd.DataFrame:
    """An uploaded table as read from its bytes (raises TableError)."""
    return read_table(data, name=name)


@st.cache_data(show_spinner=False, max_entries=8)
def validate_upload(data: bytes, name: str, space: str, base_dir: str | None = None,
                    root: str | None = None) -> ValidatedTable:
    """An uploaded table, validated; ``root``: an unpacked zip whose files alone its specs may name."""
    df = read_table(data, name=name)
    return validate_table(df, space, source=name, base_dir=base_dir, confine_to=root)


@st.cache_data(show_spinner=False, max_entries=8)
def benchmark_sample(space: str, dataset: str, n: int, seed: int) -> ValidatedTable:
    """``n`` random architectures of a shipped benchmark with all its metrics (like ``python -m core sample``)."""
    full = get_space(space).metrics_table(dataset)
    if n > len(full):
        raise InputError(f"{space}/{dataset} has only {len(full)} architectures; asked for {n}")
    part = full.sample(n=n, random_state=seed).reset_index(drop=True)
    return validate_table(part, space, source=f"{space}/{dataset} sample of {n} (seed {seed})")


@st.cache_data(show_spinner=False, max_entries=4)
def lookup_table(space: str, dataset: str) -> pd.DataFrame:
    return get_space(space).metrics_table(dataset)


@st.cache_data(show_spinner=False, max_entries=16)
def column_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-column statistics for the preview: type, missing and distinct values, and a numeric summary.

    Text columns whose values are mostly numbers (a metric with a typo) get the numeric summary too,
    with unparseable, NaN-text or infinite cells counted as ``unusable``.
    """
    rows = []
    for column in frame.columns:
        series = frame[column]
        row: dict[str, Any] = {
            "column": str(column),
            "type": str(series.dtype),
            "rows": int(len(series)),
            "missing": int(series.isna().sum()),
            "distinct": int(series.astype(str).nunique()),
        }
        if column != "arch" and not pd.api.types.is_bool_dtype(series):
            numeric = pd.to_numeric(series, errors="coerce") if not pd.api.types.is_numeric_dtype(series) else series
            present = series.notna()
            if pd.api.types.is_numeric_dtype(series) or (present.any() and numeric[present].notna().mean() > 0.5):
                values = numeric.astype(float)
                finite = values[np.isfinite(values)]
                row.update(mean=finite.mean(), std=finite.std(), min=finite.min(), median=finite.median(),
                           max=finite.max(), unusable=int((present & ~np.isfinite(values)).sum()))
        rows.append(row)
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False, max_entries=32)
def target_values(frame: pd.DataFrame, expression: str) -> TargetValues:
    """The target of ``frame`` with NaN/inf rows split off (raises TargetError)."""
    return evaluate_target(frame, expression)


def extract_onnx_zip(data: bytes, name: str) -> tuple[bytes, str, str, str]:
    """Unpack an uploaded zip of ``.onnx`` files plus one metrics table (``core.spaces.onnx_upload``);
    return (table bytes, table name, table folder, extraction root that every model path must stay in)."""
    upload = onnx_upload.extract_onnx_zip(data, name)
    return upload.table_bytes, upload.table_name, upload.table_dir, upload.root


# ------------------------------------------------------------------------- current table

def set_table(table: ValidatedTable, label: str, dataset: str | None) -> None:
    """Make ``table`` the one every page uses; keep the target if it still fits, else pick the default."""
    st.session_state[TABLE] = table
    st.session_state[TABLE_LABEL] = label
    st.session_state[SPACE] = table.space_name
    st.session_state[DATASET] = dataset
    expression = st.session_state.get(TARGET)
    try:
        parse_target(expression, table.metric_columns)
    except (InputError, TypeError):
        st.session_state[TARGET] = default_target(table)


def default_metric(table: ValidatedTable) -> str:
    """The space's default metric when the table has it, else the table's first metric column."""
    metric = get_space(table.space_name).default_metric
    return metric if metric in table.metric_columns else table.metric_columns[0]


def default_target(table: ValidatedTable) -> str:
    """The space's default target (``-latency_ms`` for a latency table), else the first metric column."""
    columns = table.metric_columns
    first = columns[0] if columns[0].isidentifier() else f"`{columns[0]}`"
    return get_space(table.space_name).default_target(columns) or first


def current_table() -> ValidatedTable:
    """The table in use; the bundled default (NAS-Bench-Graph, Cora, 300 architectures) at first."""
    if TABLE not in st.session_state:
        set_table(bundled_table(str(DEFAULT_TABLE), DEFAULT_SPACE), DEFAULT_TABLE.name, DEFAULT_DATASET)
    return st.session_state[TABLE]


def current_target() -> str:
    table = current_table()
    expression = st.session_state.get(TARGET) or default_target(table)
    st.session_state[TARGET] = expression
    return expression


# -------------------------------------------------------------------------------- runs

def runs() -> list[RunSummary]:
    return list_runs(runs_dir())


def run_stamp(path: str | Path) -> float:
    """Changes when a run directory is rewritten, so cached results of an old run are not reused."""
    try:
        return (Path(path) / CONFIG_FILE).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=4)
def load_run(path: str, stamp: float) -> Run:
    """A loaded run (model in eval mode). Shared across sessions: never mutate it."""
    return Run.load(path)


def current_run_path() -> str | None:
    """The run in use: the one chosen last, else the newest saved run, else None."""
    available = runs()
    chosen = st.session_state.get(RUN)
    if chosen and any(str(r.path) == chosen for r in available):
        return chosen
    if available:
        st.session_state[RUN] = str(available[0].path)
        return st.session_state[RUN]
    return None


def run_label(summary: RunSummary) -> str:
    rho = "n/a" if summary.spearman is None else f"{summary.spearman:.2f}"
    where = summary.space + (f"/{summary.dataset}" if summary.dataset else "")
    return f"{summary.name}  ·  {where}  ·  {summary.target}  ·  Spearman {rho}"


def run_picker(label: str = "Run", key: str = "run_picker") -> Run | None:
    """A select box over saved runs (current one preselected); returns the loaded run or None."""
    available = runs()
    if not available:
        return None
    paths = [str(r.path) for r in available]
    current = current_run_path()
    index = paths.index(current) if current in paths else 0
    by_path = {str(r.path): r for r in available}
    choice = st.selectbox(label, paths, index=index, key=key, format_func=lambda p: run_label(by_path[p]))
    st.session_state[RUN] = choice
    return load_run(choice, run_stamp(choice))


@st.cache_data(show_spinner=False, max_entries=4)
def run_table(path: str, stamp: float) -> ValidatedTable:
    """The run's training table, validated again to rebuild its graphs."""
    run = load_run(path, stamp)
    return validate_table(run.table(), run.space, source=f"run {run.name}", metric_columns=list(run.config.metric_columns))


@st.cache_data(show_spinner=False, max_entries=4)
def run_targets(path: str, stamp: float) -> np.ndarray:
    run = load_run(path, stamp)
    return evaluate_target(run_table(path, stamp).frame, run.target).values


@st.cache_data(show_spinner=False, max_entries=4)
def module_scores(path: str, stamp: float):
    """:class:`core.scoring.ModuleScores` of the run's training architectures."""
    from core.scoring import score_modules

    run = load_run(path, stamp)
    table = run_table(path, stamp)
    targets = evaluate_target(table.frame, run.target)
    # The run table holds only rows with a finite target, so every row is kept.
    return score_modules(run, table.graphs, targets.values if targets.kept.all() else None)


#: Largest space the Build page scores exhaustively in the page itself (bigger: the CLI command).
EXHAUSTIVE_IN_PAGE = 100_000


@st.cache_data(show_spinner=False, max_entries=4)
def exhaustive_top(path: str, stamp: float, n: int) -> pd.DataFrame:
    """The run's regression head's top ``n`` over its whole space, evaluated architectures left out,
    with the true metrics and percentile the built table shows (where a look-up table ships)."""
    from core.build import with_lookup
    from core.diffusion.exhaustive import run_exhaustive_top

    run = load_run(path, stamp)
    return with_lookup(run, run_exhaustive_top(run, n))


@st.cache_data(show_spinner=False, max_entries=4)
def run_predictions(path: str, stamp: float) -> pd.DataFrame:
    """The run's training architectures with their predicted target and graph size."""
    run = load_run(path, stamp)
    table = run_table(path, stamp)
    prediction = run.predict(table.graphs)
    return pd.DataFrame({"arch": table.frame["arch"], "predicted": prediction.values,
                         "nodes": [g.num_nodes for g in table.graphs]})


@st.cache_data(show_spinner=False, max_entries=64)
def architecture_scores(path: str, stamp: float, spec: str) -> np.ndarray:
    """Scores [nodes, L+1] of one architecture's nodes."""
    from core.scoring import architecture_scores as scores

    run = load_run(path, stamp)
    return scores(run, run.space.to_graph(spec))


# --------------------------------------------------------------------- background jobs

@dataclass
class Job:
    """Long work (training, building) in a background thread, so pages stay responsive and Stop works.

    The thread only calls :mod:`core`; pages poll ``fraction``, ``stage`` and ``history``. ``stop`` is
    handed to training as its ``should_stop``. A finished job has ``status`` done, stopped or failed,
    and ``result`` (a TrainOutcome or BuildResult) or ``error`` (one line).
    """

    id: str
    kind: str                      # "train" | "build"
    label: str
    key: Any = None                # what the result belongs to (a run dir, or a build's inputs)
    total: int = 1                 # epochs for training
    history: list[dict] = field(default_factory=list)
    stage: str = "starting"
    fraction: float = 0.0
    status: str = "running"        # running | done | stopped | failed
    error: str | None = None
    result: Any = None
    started: float = field(default_factory=time.time)
    finished_at: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def epoch(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.time()) - self.started


@st.cache_resource(show_spinner=False)
def _jobs() -> dict[str, Job]:
    return {}


def get_job(job_id: str | None) -> Job | None:
    return _jobs().get(job_id) if job_id else None


def forget_job(job_id: str) -> None:
    """Drop a finished job whose result the page has taken over."""
    _jobs().pop(job_id, None)


def collect_finished_job(session_key: str, what: str) -> Job | None:
    """Take this session's finished job out of the registry; a failed one becomes an error notice.

    Returns the job when it succeeded or was stopped (the page then keeps its result), else None.
    """
    job = get_job(st.session_state.get(session_key))
    if job is None or not job.finished:
        return None
    del st.session_state[session_key]
    forget_job(job.id)
    if job.status == "failed":
        st.session_state[NOTICE] = ("error", job.error or f"{what} failed")
        return None
    return job


def _prune(max_age_s: float = 3600.0) -> None:
    """Forget finished jobs nobody collected (e.g. their browser tab was closed) after an hour."""
    now = time.time()
    jobs = _jobs()
    for job_id, job in list(jobs.items()):
        if job.finished and job.finished_at is not None and now - job.finished_at > max_age_s:
            jobs.pop(job_id, None)


def _start(job: Job, work: Callable[[Job], Any]) -> Job:
    def target() -> None:
        try:
            job.result = work(job)
            job.status = "stopped" if job.stop.is_set() else "done"
        except InputError as err:  # the only user error: its message is the whole story
            job.error = one_line(err)
            job.status = "failed"
        except Exception as err:  # a bug: keep the page alive, log the traceback for the developer
            LOG.exception("%s job %s failed with an internal error", job.kind, job.id)
            job.error = internal_error_line(f"{job.kind}", err)
            job.status = "failed"
        finally:
            job.fraction = 1.0
            job.finished_at = time.time()

    job.thread = threading.Thread(target=target, name=f"autobuild-{job.kind}-{job.id[:8]}", daemon=True)
    _prune()
    _jobs()[job.id] = job
    job.thread.start()
    return job


def start_training(table: ValidatedTable, expression: str, out: Path, *, dataset: str | None,
                   model_config: Any, train_config: Any) -> Job:
    """Train in a thread (``core.workflow.train_from_table``); this session's job id goes to ``JOB``."""
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

    st.session_state[JOB] = job.id
    return _start(job, work)


def start_build(path: str, stamp: float, top: int, k: int, readout: str = "", limits: tuple = ()) -> Job:
    """Build architectures in a thread (``core.build.build_architectures``); job id goes to ``BUILD_JOB``.

    ``readout``: a ``core.build.UNIT_HOPS`` key for spaces with units, a ``CELL_SCORES`` key otherwise
    ("" for the defaults); ``limits``: core.constraints.Constraint objects."""
    from core.build import CELL_SCORES, UNIT_HOPS, BuildConfig, build_architectures

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
        return build_architectures(load_run(path, stamp), config, progress=progress)

    st.session_state[BUILD_JOB] = job.id
    return _start(job, work)


def _campaign_progress(job: Job) -> Callable[[str, int, int], None]:
    """core.campaign's progress(message, done, total) as the job's stage and fraction."""
    def progress(message: str, done: int, total: int) -> None:
        job.stage, job.fraction = message, done / max(total, 1)
    return progress


def start_propose(path: str, n: int, drop_pending: bool = False) -> Job:
    """Open a campaign's next round in a thread (``Campaign.propose``: retrain, then propose ``n``); the
    job id goes to ``LOOP_JOB``. Training takes minutes, so the page must not wait for it."""
    from core.campaign import Campaign

    job = Job(id=uuid.uuid4().hex, kind="propose", label=Path(path).name, key=path)

    def work(job: Job) -> Any:
        return Campaign.open(path).propose(n, drop_pending=drop_pending, progress=_campaign_progress(job))

    st.session_state[LOOP_JOB] = job.id
    return _start(job, work)


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

    st.session_state[LOOP_JOB] = job.id
    return _start(job, work)


def safe_run_name(text: str) -> str:
    """A run directory name: letters, digits, ``.``, ``_`` and ``-`` only."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip(".-")
    return name[:80]
