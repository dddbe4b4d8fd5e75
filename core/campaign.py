"""A campaign: AutoBuild's loop of retrain -> propose -> evaluate -> append, as a directory that
survives any crash (docs/design.md, "The loop").

    DIR/campaign.json                   CampaignConfig: space, dataset, target, method, evaluator, seed
    DIR/table.csv                       every evaluated architecture: arch, metric columns, round, source
    DIR/rounds/NNN/run/                 the predictor trained at the start of round NNN (a run directory)
    DIR/rounds/NNN/proposals.csv        the round's proposals: arch, predicted (target units)
    DIR/rounds/NNN/evaluations.jsonl    one line per finished evaluation, appended as each finishes
    DIR/log.jsonl                       what happened, one JSON event per line

Round 0 is the initial table; proposals start at round 1. A round is *open* from the moment its
proposals are written until every proposal has a result (evaluated here, ingested, or failed); the
open round's proposals are the campaign's *pending* architectures, and a new round cannot be
proposed while any are pending (``propose(drop_pending=True)`` abandons them, with a log line).

Crash safety: every file is written whole and renamed into place (a run directory too), the
evaluations file is appended and flushed one finished architecture at a time, and each step is
idempotent: a run already trained for the round is loaded rather than retrained, proposals are
re-derived from the same seed, finished evaluations are never repeated, and closing a round skips
rows already in the table. So ``kill -9`` at any point, then the same command, loses and repeats
nothing. Mutating operations hold an exclusive lock on ``DIR/.lock`` (two users, one campaign).

Selection: the campaign's *pick* is the evaluated architecture with the best target, the rule a
user applies. ``last_round_spearman`` is the honest quality of the loop's predictor: the Spearman
correlation between what it predicted for the last closed round's proposals *before* they were
evaluated and what they measured (range-restricted, since proposals are all predicted good).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from core import metrics as M
from core.errors import InputError
from core.evaluators import ArchEvaluator, evaluator_from_dict
from core.evaluators.executors import Executor, LocalExecutor
from core.json_input import JsonInputError, load_json
from core.runs import CONFIG_FILE, Run, RunNameTaken, claim_run_dir, release_run_dir
from core.searchers import DEFAULT_METHOD, SearchSettings, campaign_methods, get_searcher, require_support
from core.history import History
from core.spaces import get_space
from core.tables import ValidatedTable, read_table, validate_table
from core.targets import evaluate_target, parse_target

CAMPAIGN_FILE = "campaign.json"
TABLE_FILE = "table.csv"
LOG_FILE = "log.jsonl"
ROUNDS_DIR = "rounds"
FORMAT_VERSION = 1

#: Bookkeeping columns of the campaign table (after ``arch`` and the metric columns).
ROUND, SOURCE = "round", "source"
INITIAL = "initial"
UPLOADED = "uploaded"

#: progress(message, done, total): training, proposing and each finished evaluation.
CampaignProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CampaignConfig:
    """Everything a campaign needs to continue, stored in ``campaign.json``.

    space, dataset: the search space (and benchmark dataset, for look-up evaluation); target: the
    expression maximised; metric_columns: the metric columns every row carries; method: the
    searcher that proposes (a key of core.searchers.SEARCHERS that can propose); evaluator: an
    evaluator description (core.evaluators; ``external`` when the user evaluates); seed: training
    and proposal randomness; epochs: predictor training epochs per round; settings: the searchers'.
    """

    space: str
    target: str
    metric_columns: tuple[str, ...]
    evaluator: dict
    dataset: str | None = None
    method: str = DEFAULT_METHOD
    seed: int = 0
    epochs: int = 200
    settings: SearchSettings = SearchSettings()
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        get_space(self.space)  # a one-line error for an unknown space
        if self.method not in campaign_methods():
            raise InputError(f"method {self.method!r} cannot propose for a campaign; choose from {campaign_methods()}")
        parse_target(self.target, list(self.metric_columns))
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, not {self.seed!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise InputError(f"epochs must be a positive integer, not {self.epochs!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["metric_columns"] = list(self.metric_columns)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CampaignConfig":
        data = dict(data)
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(f"campaign format {data.get('format_version')!r} is not supported "
                             f"(this version reads {FORMAT_VERSION})")
        data["metric_columns"] = tuple(data["metric_columns"])
        data["settings"] = SearchSettings(**data.get("settings", {}))
        return cls(**data)


@dataclass
class RoundSummary:
    """One round: how many it proposed and evaluated, its best target, the best so far after it,
    and how well the round's predictor ranked its proposals before they were evaluated."""

    round: int
    proposed: int
    evaluated: int
    failed: int
    best: float
    best_so_far: float
    spearman: float | None


@dataclass
class CampaignStatus:
    """Where a campaign stands. pick: the evaluated row with the best target (arch, metrics, target,
    round, source); pending: the open round's proposals without a result; failed: spec -> reason."""

    config: CampaignConfig
    rounds: list[RoundSummary]
    evaluated: int
    pick: dict[str, Any]
    pending: list[str]
    open_round: int | None
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def completed_rounds(self) -> int:
        return sum(1 for r in self.rounds if r.round > 0 and r.round != self.open_round)

    @property
    def last_round_spearman(self) -> float | None:
        closed = [r for r in self.rounds if r.round > 0 and r.round != self.open_round and r.spearman is not None]
        return closed[-1].spearman if closed else None


class Campaign:
    """An open campaign directory. Create one with :meth:`create`, open one with :meth:`open`."""

    def __init__(self, path: Path, config: CampaignConfig) -> None:
        self.path = path
        self.config = config
        self.space = get_space(config.space)

    # ----------------------------------------------------------------- creating and opening
    @classmethod
    def create(cls, out: str | Path, table: ValidatedTable, target: str, *, dataset: str | None = None,
               method: str = DEFAULT_METHOD, evaluator: ArchEvaluator | dict | None = None, seed: int = 0,
               epochs: int = 200, settings: SearchSettings = SearchSettings(), unique: bool = False) -> "Campaign":
        """A new campaign from an evaluated ``table`` (round 0). Without ``evaluator`` the user
        evaluates (``external``). Written whole or not at all.

        The directory is claimed before anything is written (:func:`claim_campaign_dir`): an ``out``
        that exists, even empty (another campaign may be being created there), is refused with one
        line; with ``unique`` (automatic names) ``out-2``, ``out-3``, ... is taken instead. The
        campaign's path is ``Campaign.path``.
        """
        out = Path(out)
        if evaluator is None:
            evaluator = {"name": "external", "space": table.space_name, "metrics": list(table.metric_columns)}
        described = evaluator.to_dict() if isinstance(evaluator, ArchEvaluator) else dict(evaluator)
        built = evaluator_from_dict(described)
        if built.space_name != table.space_name:
            raise InputError(f"the evaluator works on {built.space_name!r} but the table is a {table.space_name} table")
        if built.automatic:
            missing = [c for c in table.metric_columns if c not in built.metrics()]
            if missing:
                raise InputError(f"{table.source}: the evaluator ({built.describe()}) cannot measure {missing}; "
                                 f"drop those columns or evaluate outside the tool")
        config = CampaignConfig(space=table.space_name, target=target, metric_columns=tuple(table.metric_columns),
                                evaluator=described, dataset=dataset, method=method, seed=seed, epochs=epochs,
                                settings=settings)
        values = evaluate_target(table.frame, parse_target(target, list(table.metric_columns)))
        if not values.kept.all():
            raise InputError(f"{table.source}: {values.summary()}; a campaign needs the target in every row")
        frame = table.frame.copy()
        frame[ROUND] = 0
        frame[SOURCE] = INITIAL
        require_support(get_searcher(method, settings), get_space(table.space_name))
        path = claim_campaign_dir(out.parent, out.name, unique=unique)
        staging = path.parent / f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir()
            (staging / ROUNDS_DIR).mkdir()
            _write_json(staging / CAMPAIGN_FILE, config.to_dict())
            _write_frame(staging / TABLE_FILE, frame)
            _append_line(staging / LOG_FILE, _event("created", rows=len(frame), method=method,
                                                    evaluator=built.describe()))
            os.rename(staging, path)  # onto the empty claim: atomic, and the name is never free
        except BaseException:
            release_run_dir(path)
            raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return cls(path, config)

    @classmethod
    def open(cls, path: str | Path) -> "Campaign":
        path = Path(path)
        if not (path / CAMPAIGN_FILE).is_file() or not (path / TABLE_FILE).is_file():
            raise InputError(f"{path} is not a campaign directory (no {CAMPAIGN_FILE} / {TABLE_FILE})")
        where = path / CAMPAIGN_FILE
        data = _read_json_object(where)
        try:
            config = CampaignConfig.from_dict(data)
        except InputError as err:
            raise InputError(f"{where}: {err}") from None
        except (KeyError, TypeError, ValueError) as err:  # a hand-edited file: missing, unknown or mistyped keys
            first = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
            raise InputError(f"{where}: invalid campaign settings ({type(err).__name__}: {first})") from None
        return cls(path, config)

    # ------------------------------------------------------------------------- reading
    def table(self) -> pd.DataFrame:
        """Every evaluated architecture: ``arch``, the metric columns, ``round``, ``source``."""
        return pd.read_csv(self.path / TABLE_FILE)

    def evaluator(self) -> ArchEvaluator:
        return evaluator_from_dict(self.config.evaluator)

    def target_values(self, frame: pd.DataFrame | None = None) -> np.ndarray:
        frame = self.table() if frame is None else frame
        return evaluate_target(frame, parse_target(self.config.target, list(self.config.metric_columns))).values

    def round_dir(self, r: int) -> Path:
        return self.path / ROUNDS_DIR / f"{r:03d}"

    def rounds_started(self) -> list[int]:
        root = self.path / ROUNDS_DIR
        return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "proposals.csv").is_file())

    def proposals(self, r: int) -> pd.DataFrame:
        return pd.read_csv(self.round_dir(r) / "proposals.csv")

    def outcomes(self, r: int) -> dict[str, dict[str, Any]]:
        """The finished evaluations of round ``r``: spec -> {"metrics": {...}} or {"error": "..."}."""
        path = self.round_dir(r) / "evaluations.jsonl"
        found: dict[str, dict[str, Any]] = {}
        if path.is_file():
            for number, line in enumerate(_read_text(path).splitlines(), start=1):
                try:
                    record = load_json(line)
                except JsonInputError:
                    continue  # a line cut short by a crash: that evaluation is simply redone
                if not (isinstance(record, dict) and isinstance(record.get("arch"), str) and
                        (isinstance(record.get("metrics"), dict) or isinstance(record.get("error"), str))):
                    raise InputError(f"{path} line {number}: not an evaluation record (a JSON object with "
                                     f"'arch' and 'metrics' or 'error')")
                found[record["arch"]] = record
        return found

    def open_round(self) -> int | None:
        """The round whose proposals still await results, or None."""
        started = self.rounds_started()
        if not started:
            return None
        last = started[-1]
        if (self.round_dir(last) / "closed.json").is_file():
            return None
        return last

    def pending(self) -> list[str]:
        """The open round's proposals that have no result yet (in proposal order)."""
        return self._pending_in(self.open_round())

    def _pending_in(self, r: int | None) -> list[str]:
        if r is None:
            return []
        evaluated = set(self.table()["arch"].astype(str))
        done = self.outcomes(r)
        return [s for s in self.proposals(r)["arch"].astype(str) if s not in evaluated and s not in done]

    def status(self) -> CampaignStatus:
        frame = self.table()
        values = self.target_values(frame)
        best = int(np.argmax(values))
        pick = {**frame.iloc[best].to_dict(), "target": float(values[best])}
        open_round = self.open_round()
        summaries, failed = [], {}
        best_so_far = -math.inf
        last = max([0] + self.rounds_started())
        for r in range(0, last + 1):
            in_round = values[frame[ROUND].to_numpy() == r]
            proposed = 0
            spearman = None
            round_failed = 0
            if r > 0 and (self.round_dir(r) / "proposals.csv").is_file():
                proposals = self.proposals(r)
                proposed = len(proposals)
                errors = {s: o["error"] for s, o in self.outcomes(r).items() if "error" in o}
                failed.update(errors)
                round_failed = len(errors)
                spearman = _prospective_spearman(proposals, frame, values, r)
            if in_round.size:
                best_so_far = max(best_so_far, float(in_round.max()))
            summaries.append(RoundSummary(r, proposed, int(in_round.size), round_failed,
                                          float(in_round.max()) if in_round.size else math.nan, best_so_far, spearman))
        # The same open round for both: a proposal finishing in another thread meanwhile must not
        # give pending proposals without their round.
        return CampaignStatus(self.config, summaries, len(frame), pick, self._pending_in(open_round), open_round,
                              failed)

    # ------------------------------------------------------------------------ the loop
    def propose(self, n: int, method: str | None = None, *, drop_pending: bool = False,
                progress: CampaignProgress | None = None) -> pd.DataFrame:
        """Open the next round: retrain on everything evaluated and propose ``n`` new architectures
        with ``method`` (default: the campaign's). Returns the proposals (``arch``, ``predicted``)."""
        if not isinstance(n, int) or n < 1:
            raise InputError(f"the number of proposals must be a positive integer, not {n!r}")
        method = method or self.config.method
        searcher = get_searcher(method, self.config.settings)
        if not searcher.proposes:
            raise InputError(f"method {method!r} cannot propose for a campaign; choose from {campaign_methods()}")
        require_support(searcher, self.space)  # before training a predictor for nothing
        say = progress or (lambda message, done, total: None)
        with self._locked():
            open_round = self.open_round()
            if open_round is not None:
                pending = self.pending()
                if pending and not drop_pending:
                    raise InputError(f"round {open_round} has {len(pending)} proposal(s) awaiting results; "
                                     f"ingest or evaluate them first (or drop them)")
                self._close_round(open_round, dropped=pending)
            r = max([0] + self.rounds_started()) + 1
            frame = self.table()
            values = self.target_values(frame)
            run = None
            if searcher.needs_run:
                say(f"round {r}: training the predictor on {len(frame)} architectures", 0, 1)
                run = self._round_run(r, frame)
            evaluator = self.evaluator()
            history = History(list(frame["arch"].astype(str)), [float(v) for v in values],
                              allowed=evaluator.can_evaluate)
            say(f"round {r}: proposing {n} with {method}", 0, 1)
            proposed = searcher.propose(self.space, history, n, seed=self._round_seed(r), run=run)
            if not proposed:
                raise InputError(f"method {method!r} found no new architecture to propose "
                                 f"(the space may be exhausted)")
            predicted = run.predict([self.space.to_graph(s) for s in proposed]).values if run is not None \
                else np.full(len(proposed), np.nan)
            proposals = pd.DataFrame({"arch": proposed, "predicted": predicted})
            self.round_dir(r).mkdir(parents=True, exist_ok=True)
            _write_frame(self.round_dir(r) / "proposals.csv", proposals)
            self._log("proposed", round=r, method=method, n=len(proposed))
            return proposals

    def evaluate_pending(self, executor: Executor | None = None, progress: CampaignProgress | None = None,
                         should_stop: Callable[[], bool] | None = None) -> int:
        """Evaluate the open round's pending proposals with the campaign's evaluator; each result is
        recorded as it finishes. Closes the round when all have a result. Returns how many ran."""
        evaluator = self.evaluator()
        if not evaluator.automatic:
            raise InputError("this campaign is evaluated outside the tool: download the proposals and ingest "
                             "their results")
        say = progress or (lambda message, done, total: None)
        with self._locked():
            r = self.open_round()
            if r is None:
                return 0
            todo = self.pending()
            ran = 0
            path = self.round_dir(r) / "evaluations.jsonl"
            for spec, row, error in (executor or LocalExecutor()).map(evaluator, todo, should_stop):
                record = {"arch": spec, "error": error} if error is not None else {"arch": spec, "metrics": row}
                _append_line(path, record)
                ran += 1
                say(f"round {r}: evaluated {spec}" + (f" (failed: {error})" if error else ""), ran, len(todo))
            if not self.pending():
                self._close_round(r)
            return ran

    def ingest(self, source: Any, *, name: str | None = None, allow_unproposed: bool = False) -> int:
        """Append evaluated architectures the user brings back (a table file or bytes). Every row is
        validated like any table; refused, all problems at once: rows never proposed (unless
        ``allow_unproposed``; they are marked ``uploaded``), architectures already evaluated, rows
        without every metric column, a non-finite target. Returns the number of rows appended."""
        label = name or (str(source) if isinstance(source, (str, Path)) else "uploaded table")
        with self._locked():
            raw = read_table(source, name=name)
            missing = [c for c in ("arch", *self.config.metric_columns) if c not in raw.columns]
            if missing:
                raise InputError(f"{label}: no column {missing}; a campaign row needs every metric column "
                                 f"{list(self.config.metric_columns)}")
            evaluated = set(self.table()["arch"].astype(str))
            r = self.open_round()
            proposed = set(self.proposals(r)["arch"].astype(str)) if r is not None else set()
            proposed_by = f"proposed-by-{self._round_method(r)}" if r is not None else ""
            problems, sources = [], []
            for i, raw_spec in enumerate(raw["arch"]):
                try:
                    spec = self.space.canonical(str(raw_spec))
                except InputError:
                    sources.append(None)  # validate_table names the bad spec
                    continue
                if spec in evaluated:
                    problems.append(f"row {i + 1}: {_short(spec)} was already evaluated")
                elif spec in proposed:
                    sources.append(proposed_by)
                    continue
                elif allow_unproposed:
                    sources.append(UPLOADED)
                    continue
                else:
                    problems.append(f"row {i + 1}: {_short(spec)} was never proposed"
                                    + (f" in round {r}" if r is not None else " (no round is open)"))
                sources.append(None)
            try:
                table = validate_table(raw[["arch", *self.config.metric_columns]], self.space, source=label,
                                       metric_columns=list(self.config.metric_columns))
            except InputError as err:  # every problem at once: the table's, then the campaign's
                raise InputError("; ".join([str(err)] + problems)) from None
            frame = table.frame
            values = evaluate_target(frame, parse_target(self.config.target, list(self.config.metric_columns)))
            problems += [f"row {i + 1}: the target {self.config.target!r} is NaN or infinite"
                         for i in values.excluded_rows]
            if problems:
                shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
                raise InputError(f"{label}: {shown}")
            rows = frame.copy()
            rows[ROUND] = r if r is not None else max([0] + self.rounds_started())
            rows[SOURCE] = sources
            self._append_rows(rows)
            self._log("ingested", round=r, rows=len(rows), source=label)
            if r is not None and not self.pending():
                self._close_round(r)
            return len(rows)

    def run(self, rounds: int, n: int, executor: Executor | None = None, method: str | None = None,
            progress: CampaignProgress | None = None, should_stop: Callable[[], bool] | None = None) -> int:
        """``rounds`` rounds of propose -> evaluate -> append; an open round is finished first and
        counts as one of them. Returns the rounds completed. Needs an evaluator that runs here."""
        if not isinstance(rounds, int) or rounds < 1:
            raise InputError(f"rounds must be a positive integer, not {rounds!r}")
        if not self.evaluator().automatic:
            raise InputError("this campaign is evaluated outside the tool: use propose and ingest")
        stop = should_stop or (lambda: False)
        done = 0
        while done < rounds and not stop():
            if self.open_round() is None:
                self.propose(n, method, progress=progress)
            self.evaluate_pending(executor, progress, stop)
            if self.open_round() is not None:  # stopped mid-round
                break
            done += 1
        return done

    # ----------------------------------------------------------------------- internals
    def _round_seed(self, r: int) -> int:
        # The same stream core.searchers.base.Searcher.search uses for its round r - 1.
        return self.config.seed * 1000 + (r - 1)

    def _round_method(self, r: int) -> str:
        for line in _read_lines(self.path / LOG_FILE):
            if line.get("event") == "proposed" and line.get("round") == r:
                return str(line.get("method"))
        return self.config.method

    def _round_run(self, r: int, frame: pd.DataFrame) -> Run:
        """The round's predictor: loaded when a previous attempt already trained it."""
        path = self.round_dir(r) / "run"
        if (path / CONFIG_FILE).is_file():
            run = Run.load(path)
            if run.config.rows == len(frame):
                return run
            # Trained by an attempt that was interrupted before rows were ingested since: retrain.
        from core.predictor.train import TrainConfig
        from core.workflow import train_from_table

        columns = list(self.config.metric_columns)
        table = validate_table(frame[["arch", *columns]], self.space, source=str(self.path / TABLE_FILE),
                               metric_columns=columns)
        # Every evaluation is a label here (no held-out split): the next round measures the
        # predictor honestly on what it proposes (last_round_spearman).
        train = TrainConfig(epochs=self.config.epochs, val_fraction=0.0, seed=self.config.seed,
                            eval_every=self.config.epochs)
        return train_from_table(table, self.config.target, path, dataset=self.config.dataset,
                                train_config=train, overwrite=True).run

    def _close_round(self, r: int, dropped: Sequence[str] = ()) -> None:
        """Append the round's evaluated proposals to the table (skipping rows already there) and mark
        the round closed."""
        outcomes = self.outcomes(r)
        evaluated = set(self.table()["arch"].astype(str))
        method = self._round_method(r)
        # In proposal order, whatever order the evaluations finished in (a Ray cluster's is random):
        # the table's order decides the next predictor's training, so it must not depend on timing.
        order = list(self.proposals(r)["arch"].astype(str))
        rows = [{"arch": spec, **outcomes[spec]["metrics"], ROUND: r, SOURCE: f"proposed-by-{method}"}
                for spec in order if "metrics" in outcomes.get(spec, {}) and spec not in evaluated]
        if rows:
            self._append_rows(pd.DataFrame(rows))
        failed = sum(1 for o in outcomes.values() if "error" in o)
        _write_json(self.round_dir(r) / "closed.json", {"round": r, "appended": len(rows), "failed": failed,
                                                        "dropped": list(dropped), "time": _now()})
        self._log("closed", round=r, appended=len(rows), failed=failed, dropped=len(dropped))

    def _append_rows(self, rows: pd.DataFrame) -> None:
        frame = pd.concat([self.table(), rows[["arch", *self.config.metric_columns, ROUND, SOURCE]]],
                          ignore_index=True)
        _write_frame(self.path / TABLE_FILE, frame)

    def _log(self, event: str, **data: Any) -> None:
        _append_line(self.path / LOG_FILE, _event(event, **data))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _prospective_spearman(proposals: pd.DataFrame, frame: pd.DataFrame, values: np.ndarray, r: int) -> float | None:
    """Spearman of the round's predictions (made before evaluation) with the measured target."""
    if "predicted" not in proposals or proposals["predicted"].isna().all():
        return None
    measured = dict(zip(frame["arch"].astype(str)[frame[ROUND] == r], values[frame[ROUND].to_numpy() == r]))
    pairs = [(p, measured[s]) for s, p in zip(proposals["arch"].astype(str), proposals["predicted"]) if s in measured]
    if len(pairs) < 3:
        return None
    value = M.spearman(np.array([p for p, _ in pairs]), np.array([m for _, m in pairs]))
    return None if value is None or not math.isfinite(value) else float(value)


def _short(spec: str) -> str:
    return spec if len(spec) <= 80 else spec[:77] + "..."


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _event(event: str, **data: Any) -> dict[str, Any]:
    return {"time": _now(), "event": event, **data}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2))
    os.replace(partial, path)


def _write_frame(path: Path, frame: pd.DataFrame) -> None:
    partial = path.with_name(f".{path.name}.partial")
    frame.to_csv(partial, index=False)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _append_line(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    for line in _read_text(path).splitlines():
        try:
            record = load_json(line)
        except JsonInputError:
            continue  # a line cut short by a crash
        if isinstance(record, dict):
            yield record


#: Largest campaign.json read (a real one is under a kilobyte).
MAX_CONFIG_BYTES = 1024**2
#: Largest evaluations.jsonl / log.jsonl read (a line per evaluation or event).
MAX_LINES_BYTES = 256 * 1024**2


def _read_text(path: Path, limit: int = MAX_LINES_BYTES) -> str:
    """A campaign file a user may have edited, size-bounded; one line naming it when unreadable."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{path}: {size:,} bytes is over the {limit:,} byte limit")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file (``campaign.json``), bounded by :func:`core.json_input.load_json`."""
    try:
        data = load_json(_read_text(path, MAX_CONFIG_BYTES))
    except JsonInputError as err:
        raise InputError(f"{path}: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of settings, got a JSON {type(data).__name__}")
    return data


class CampaignNameTaken(InputError):
    """A campaign directory name already used by a campaign or claimed by one being created."""


def claim_campaign_dir(root: str | Path, name: str, *, unique: bool = False) -> Path:
    """Reserve ``root/name`` for a new campaign with one ``mkdir`` (the run names' claim,
    :func:`core.runs.claim_run_dir`): granted to exactly one caller, even across processes.

    ``unique``: on a clash take ``name-2``, ``name-3``, ... (automatic, timestamped names, which two
    campaigns started in the same second share); else raise :class:`CampaignNameTaken`.
    """
    root = Path(root)
    try:
        return claim_run_dir(root, name, unique=unique)
    except RunNameTaken:
        raise CampaignNameTaken(f"campaign directory {root / name} already exists (or another campaign is "
                                "being created there); choose another name") from None
    except OSError as err:  # a file where a folder should be, no permission
        raise InputError(f"cannot create campaign directory {root / name}: {err.strerror or err}") from None
