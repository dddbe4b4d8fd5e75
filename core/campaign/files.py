"""A campaign directory on disk: its settings, table, rounds, evaluations, log and lock
(docs/design.md, "The loop"); the loop's steps are core/campaign/campaign.py.

    DIR/campaign.json                   CampaignConfig: space, dataset, target, method, evaluator, seed, ...
    DIR/table.csv                       every evaluated architecture: arch, metric columns, round, source
    DIR/rounds/NNN/run/                 the predictor trained at the start of round NNN (a run directory)
    DIR/rounds/NNN/proposals.csv        the round's proposals: arch, predicted (target units)
    DIR/rounds/NNN/evaluations.jsonl    one line per finished evaluation, appended as each finishes
    DIR/rounds/NNN/closed.json          written when the round has a result for every proposal
    DIR/log.jsonl                       what happened, one JSON event per line

Every file is written whole and renamed into place, the evaluations file is appended and flushed
one finished architecture at a time, and mutating operations hold an exclusive lock on
``DIR/.lock``. Files a user may have edited are read size-bounded, with one line naming the file.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Self, Sequence

import numpy as np
import pandas as pd

from core.campaign.names import CAMPAIGN_FILE
from core.errors import InputError
from core.evaluators import ArchEvaluator, evaluator_from_dict
from core.files.bounded_json import JsonInputError, load_json, load_json_object
from core.files.bounded_read import read_regular
from core.files.table_io import first_line
from core.predictor.config import DEFAULT_MEMBERS, MAX_MEMBERS
from core.search.searchers import DEFAULT_METHOD, SearchSettings, campaign_methods
from core.spaces import get_space
from core.targets.target import TARGET_LIMIT, evaluate_target, parse_target

TABLE_FILE = "table.csv"
LOG_FILE = "log.jsonl"
ROUNDS_DIR = "rounds"
FORMAT_VERSION = 1

#: The lock every mutating step holds; it also names its holder ({"pid", "since"}).
LOCK_FILE = ".lock"

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
    searcher that proposes (a key of core.search.searchers.SEARCHERS that can propose); evaluator: an
    evaluator description (core.evaluators; ``external`` when the user evaluates); seed: training
    and proposal randomness; epochs: predictor training epochs per round; members: the ensemble members
    each round's predictor trains (``core.predictor.config.PredictorConfig.members``; a campaign.json
    written before this option trains the default); settings: the searchers'.
    """

    space: str
    target: str
    metric_columns: tuple[str, ...]
    evaluator: dict
    dataset: str | None = None
    method: str = DEFAULT_METHOD
    seed: int = 0
    epochs: int = 200
    members: int = DEFAULT_MEMBERS
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
        if (not isinstance(self.members, int) or isinstance(self.members, bool)
                or not 1 <= self.members <= MAX_MEMBERS):
            raise InputError(f"members must be an integer from 1 to {MAX_MEMBERS}, not {self.members!r}")

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


class CampaignDir:
    """A campaign directory's files: reading them, and the writes that close a round. The loop's
    steps are core.campaign.campaign.Campaign, which derives from this."""

    def __init__(self, path: Path, config: CampaignConfig) -> None:
        self.path = path
        self.config = config
        self.space = get_space(config.space)
        # > 0 while this object holds the campaign's lock, in thread _lock_owner (re-entered by it only)
        self._lock_depth, self._lock_owner = 0, None

    @classmethod
    def open(cls, path: str | Path) -> Self:
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
        return _read_frame(self.path / TABLE_FILE, ("arch", *self.config.metric_columns, ROUND, SOURCE))

    def evaluator(self) -> ArchEvaluator:
        return evaluator_from_dict(self.config.evaluator)

    def target_values(self, frame: pd.DataFrame | None = None) -> np.ndarray:
        """The target of every row of ``frame`` (default: the table), row-aligned: NaN where the row
        cannot be used (:meth:`bad_rows`)."""
        frame = self.table() if frame is None else frame
        problems = self.row_problems(frame)
        values = np.full(len(frame), np.nan)
        good = np.array([p is None for p in problems], dtype=bool)
        if good.any():
            values[good] = self._targets(frame.loc[good]).values
        return values

    def row_problems(self, frame: pd.DataFrame) -> list[str | None]:
        """Per row of ``frame`` (``arch`` and the metric columns), why it cannot join the campaign's
        table, or None: the checks a table row gets (every metric column a finite number) and the
        target finite and within ±TARGET_LIMIT. One short phrase each, naming the column and value."""
        columns = list(self.config.metric_columns)
        problems: list[str | None] = [None] * len(frame)
        for c in columns:
            if c not in frame.columns:
                return [f"no metric column {c!r}"] * len(frame)
            numbers = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
            for i in np.flatnonzero(~np.isfinite(numbers)):
                if problems[i] is None:
                    problems[i] = f"metric {c!r} is {_shown(frame[c].iloc[i])}, not a finite number"
        ok = [i for i, p in enumerate(problems) if p is None]
        if ok:
            target = parse_target(self.config.target, columns)
            numeric = frame.iloc[ok][columns].apply(pd.to_numeric, errors="coerce")
            raw = target.evaluate(numeric).to_numpy(dtype=np.float64)
            for i, value in zip(ok, raw):
                if not np.isfinite(value):
                    problems[i] = f"the target {self.config.target!r} is {value}"
                elif abs(value) > TARGET_LIMIT:
                    problems[i] = f"the target {self.config.target!r} is {value:g}, beyond ±{TARGET_LIMIT:g}"
        return problems

    def bad_rows(self, frame: pd.DataFrame | None = None) -> dict[int, str]:
        """Rows of the table (1-based, as a user counts them) that cannot be used, with why: only a
        directory written by an older version holds any. They stay in the file, but are left out of
        training, proposing and the pick."""
        frame = self.table() if frame is None else frame
        return {i + 1: f"{_shown(str(frame['arch'].iloc[i]), 60)}: {p}"
                for i, p in enumerate(self.row_problems(frame)) if p is not None}

    def usable_table(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The table without its :meth:`bad_rows` (the rows training and proposing use)."""
        frame = self.table() if frame is None else frame
        good = [p is None for p in self.row_problems(frame)]
        return frame.loc[good].reset_index(drop=True)

    def _targets(self, frame: pd.DataFrame):
        return evaluate_target(frame, parse_target(self.config.target, list(self.config.metric_columns)))

    def round_dir(self, r: int) -> Path:
        return self.path / ROUNDS_DIR / f"{r:03d}"

    def rounds_started(self) -> list[int]:
        root = self.path / ROUNDS_DIR
        return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "proposals.csv").is_file())

    def proposals(self, r: int) -> pd.DataFrame:
        return _read_frame(self.round_dir(r) / "proposals.csv", ("arch",))

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
        # A result written by an older version (or an edited file) may hold a NaN or a target too large
        # to train on: it counts as that architecture's failure, never as a row.
        scored = [spec for spec, record in found.items() if "metrics" in record]
        if scored:
            frame = pd.DataFrame([{"arch": spec, **found[spec]["metrics"]} for spec in scored])
            for spec, problem in zip(scored, self.row_problems(frame)):
                if problem is not None:
                    found[spec] = {"arch": spec, "error": f"invalid result: {problem}"}
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

    def _round_method(self, r: int) -> str:
        for line in _read_lines(self.path / LOG_FILE):
            if line.get("event") == "proposed" and line.get("round") == r:
                return str(line.get("method"))
        return self.config.method

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
        """The exclusive lock of one mutating step: waits for another holder (a step is short, or the
        caller took the campaign for the whole command with :meth:`session`). Reentrant within this
        object, so a step inside a session does not wait for itself."""
        with self.session(wait=True):
            yield

    @contextlib.contextmanager
    def session(self, *, wait: bool = False,
                waiting: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the campaign for a whole command (``loop run`` holds it across its rounds, so no other
        process proposes or evaluates in between). A campaign in use raises :class:`CampaignBusy` at
        once, naming the process and since when; with ``wait`` it waits for it (``waiting`` is told
        who it waits for). The holder's pid and start time are written into the lock file for that."""
        if self._lock_depth and self._lock_owner == threading.get_ident():
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with open(self.path / LOCK_FILE, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(handle)
                if not wait:
                    raise CampaignBusy(f"campaign {self.path} is in use by {holder}; wait for it to finish "
                                       f"(or pass --wait)") from None
                if waiting is not None:
                    waiting(f"campaign {self.path} is in use by {holder}; waiting for it")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps({"pid": os.getpid(), "since": _now()}))
                handle.flush()
                self._lock_depth, self._lock_owner = 1, threading.get_ident()
                yield
            finally:
                self._lock_depth, self._lock_owner = 0, None
                fcntl.flock(handle, fcntl.LOCK_UN)


class CampaignBusy(InputError):
    """The campaign is held by another process (or another command of this one)."""


def _lock_holder(handle: Any) -> str:
    """Who holds the lock, from what the holder wrote into the lock file."""
    try:
        handle.seek(0)
        record = json.loads(handle.read(4096) or "{}")
        return f"process {int(record['pid'])} since {str(record['since'])[:40]}"
    except (ValueError, KeyError, TypeError):
        return "another process"  # one written by an older version, which names no holder


def _shown(value: Any, limit: int = 40) -> str:
    value = value.item() if isinstance(value, np.generic) else value  # nan, not np.float64(nan)
    text = value if isinstance(value, str) and limit > 40 else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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


#: Largest table.csv / proposals.csv read (a campaign over a whole benchmark is a few MB).
MAX_FRAME_BYTES = 256 * 1024**2


def _read_text(path: Path, limit: int = MAX_LINES_BYTES) -> str:
    """A campaign file a user may have edited: a regular file under ``limit`` bytes (never a device,
    pipe or huge file; core/files/bounded_read.py); one line naming it when unreadable."""
    data = read_regular(path, max_bytes=limit, what="campaign file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None


def _read_frame(path: Path, required: Sequence[str]) -> pd.DataFrame:
    """A campaign CSV (its table, a round's proposals) read within :data:`MAX_FRAME_BYTES`, with the
    ``required`` columns; one line naming the file when it is unreadable or damaged."""
    data = read_regular(path, max_bytes=MAX_FRAME_BYTES, what="campaign table")
    try:
        frame = pd.read_csv(io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: cannot read it as csv ({first_line(err)})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: column {missing[0]!r} is missing; the campaign file is damaged")
    return frame


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file (``campaign.json``), size- and depth-bounded."""
    return load_json_object(path, max_bytes=MAX_CONFIG_BYTES, what="settings")
