"""A campaign: AutoBuild's loop of retrain -> propose -> evaluate -> append, as a directory that
survives any crash (docs/design.md, "The loop"). The directory's files are core/campaign/files.py,
the status core/campaign/status.py, the name claim core/campaign/names.py; this module is the loop.

Round 0 is the initial table; proposals start at round 1. A round is *open* from the moment its
proposals are written until every proposal has a result (evaluated here, ingested, or failed); the
open round's proposals are the campaign's *pending* architectures, and a new round cannot be
proposed while any are pending (``propose(drop_pending=True)`` abandons them, with a log line).

Crash safety: every file is written whole and renamed into place (a run directory too), the
evaluations file is appended and flushed one finished architecture at a time, and each step is
idempotent: a run already trained for the round is loaded rather than retrained, proposals are
re-derived from the same seed, finished evaluations are never repeated, and closing a round skips
rows already in the table. So ``kill -9`` at any point, then the same command, loses and repeats
nothing. Mutating operations hold an exclusive lock on ``DIR/.lock`` (two users, one campaign);
:meth:`Campaign.run` holds it across its rounds, and a command can take it for its whole length
(``CampaignDir.session``), so a second one learns at once which process holds it.

No evaluation joins the table unchecked: an evaluator's result, a Ray task's or an ingested row is
held to the table checks (finite metrics, a target finite and within ±TARGET_LIMIT, a pending
proposal, once). A failed or invalid result is that proposal's failure, with its reason, and the
round still closes; a bad row an older version wrote is left out of training and the pick.

Selection: the campaign's *pick* is the evaluated architecture with the best target, the rule a
user applies. ``last_round_spearman`` is the honest quality of the loop's predictor: the Spearman
correlation between what it predicted for the last closed round's proposals *before* they were
evaluated and what they measured (range-restricted, since proposals are all predicted good). A
round's own run trains on every row, so its metrics are a training fit, never held-out quality.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from core.errors import InputError
from core.evaluators import ArchEvaluator, evaluator_from_dict
from core.evaluators.executors import Executor, LocalExecutor
from core.files.table_io import read_table
from core.predictor.collapse import tied_head
from core.predictor.config import DEFAULT_MEMBERS
from core.runs.names import release_run_dir
from core.search.history import History
from core.search.searchers import (
    DEFAULT_METHOD,
    SearchSettings,
    campaign_methods,
    get_searcher,
    require_support,
)
from core.spaces import get_space
from core.tables.validated import ValidatedTable, validate_table
from core.targets.target import evaluate_target, parse_target
from core.campaign.files import (
    INITIAL, LOG_FILE, ROUND, ROUNDS_DIR,
    SOURCE, TABLE_FILE, UPLOADED, CampaignConfig, CampaignDir, CampaignProgress, _append_line, _event,
    _write_frame, _write_json)
from core.campaign.names import CAMPAIGN_FILE, claim_campaign_dir
from core.campaign.status import CampaignStatus, campaign_status

if TYPE_CHECKING:  # a Run brings torch: init, ingest and status train nothing and skip it
    from core.runs.run import Run


class Campaign(CampaignDir):
    """An open campaign directory. Create one with :meth:`create`, open one with :meth:`open`."""

    # ----------------------------------------------------------------- creating and opening
    @classmethod
    def create(cls, out: str | Path, table: ValidatedTable, target: str, *, dataset: str | None = None,
               method: str = DEFAULT_METHOD, evaluator: ArchEvaluator | dict | None = None, seed: int = 0,
               epochs: int = 200, members: int = DEFAULT_MEMBERS, settings: SearchSettings = SearchSettings(),
               unique: bool = False) -> "Campaign":
        """A new campaign from an evaluated ``table`` (round 0). Without ``evaluator`` the user
        evaluates (``external``). ``members``: ensemble members of each round's predictor. Written whole
        or not at all.

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
                                members=members, settings=settings)
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

    def status(self) -> CampaignStatus:
        return campaign_status(self)

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
            frame = self.usable_table()  # a bad row an older version wrote is left out, never misaligned
            values = self.target_values(frame)
            run = None
            if searcher.needs_run:
                say(f"round {r}: training the predictor on {len(frame)} architectures", 0, 1)
                run = self._round_run(r, frame, say)
            evaluator = self.evaluator()
            history = History(list(frame["arch"].astype(str)), [float(v) for v in values],
                              allowed=evaluator.can_evaluate)
            say(f"round {r}: proposing {n} with {method}", 0, 1)
            proposed, predicted = self._propose_with(searcher, history, n, r, run)
            for attempt in range(1, RETRAINS + 1):
                # A predictor that predicts one value for most proposals proposes blind: retrain it from
                # other starting weights (the ensemble's collapse guard, for the round as a whole).
                if run is None or not tied_head(predicted):
                    break
                say(f"round {r}: predictions tied; retraining the predictor (attempt {attempt})", 0, 1)
                self._log("retrained", round=r, reason="tied predictions", attempt=attempt)
                run = self._round_run(r, frame, say, retrain=attempt)
                proposed, predicted = self._propose_with(searcher, history, n, r, run)
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
            waiting = set(todo)
            ran = 0
            path = self.round_dir(r) / "evaluations.jsonl"
            for spec, row, error in (executor or LocalExecutor()).map(evaluator, todo, should_stop):
                if spec not in waiting:  # not a pending proposal, or a second result for one: never a row
                    say(f"round {r}: ignored a result for {_short(spec)}, which was not awaiting one", ran, len(todo))
                    continue
                waiting.discard(spec)
                if error is None:
                    error = self._evaluation_problem(spec, row)
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
            # A target the table's checks cannot see (finite metrics, a target beyond ±TARGET_LIMIT); the
            # metrics themselves are validate_table's to report.
            problems += [f"row {i + 1}: {p}" for i, p in enumerate(self.row_problems(raw))
                         if p is not None and p.startswith("the target")]
            try:
                table = validate_table(raw[["arch", *self.config.metric_columns]], self.space, source=label,
                                       metric_columns=list(self.config.metric_columns))
            except InputError as err:  # every problem at once: the table's, then the campaign's
                raise InputError("; ".join([str(err)] + problems)) from None
            frame = table.frame
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
        # Held across the rounds: between this run's propose and its evaluation no other process may
        # propose, evaluate or drop (it would see "proposals awaiting results" or evaluate them twice).
        with self._locked():
            while done < rounds and not stop():
                if self.open_round() is None:
                    self.propose(n, method, progress=progress)
                self.evaluate_pending(executor, progress, stop)
                if self.open_round() is not None:  # stopped mid-round
                    break
                done += 1
        return done

    # ----------------------------------------------------------------------- internals
    def _propose_with(self, searcher, history: History, n: int, r: int, run: Run | None
                      ) -> tuple[list[str], np.ndarray]:
        """Round ``r``'s proposals and their predicted targets (NaN without a predictor)."""
        proposed = searcher.propose(self.space, history, n, seed=self._round_seed(r), run=run)
        if not proposed:
            raise InputError(f"method {searcher.name!r} found no new architecture to propose "
                             f"(the space may be exhausted)")
        predicted = run.predict([self.space.to_graph(s) for s in proposed]).values if run is not None \
            else np.full(len(proposed), np.nan)
        return proposed, predicted

    def _evaluation_problem(self, spec: str, row: Any) -> str | None:
        """Why an evaluator's result for ``spec`` cannot become a row (recorded as its failure), or None."""
        if not isinstance(row, dict):
            return f"invalid result: a {type(row).__name__}, not a metric row"
        problem = self.row_problems(pd.DataFrame([{"arch": spec, **row}]))[0]
        return None if problem is None else f"invalid result: {problem}"

    def _round_seed(self, r: int) -> int:
        # The same stream core.search.searchers.base.Searcher.search uses for its round r - 1.
        return self.config.seed * 1000 + (r - 1)

    def _round_run(self, r: int, frame: pd.DataFrame, say: CampaignProgress | None = None, retrain: int = 0) -> Run:
        """The round's predictor: loaded when a previous attempt already trained it; ``retrain`` > 0 trains it
        again from other starting weights (after tied predictions). ``say`` hears every tenth of the epochs,
        so a page's progress bar moves while the predictor trains."""
        from core.runs.loading import CONFIG_FILE
        from core.runs.run import Run

        path = self.round_dir(r) / "run"
        if (path / CONFIG_FILE).is_file() and not retrain:
            run = Run.load(path)
            if run.config.rows == len(frame):
                return run
            # Trained by an attempt that was interrupted before rows were ingested since: retrain.
        from core.predictor.config import PredictorConfig, TrainConfig
        from core.workflow import train_from_table

        columns = list(self.config.metric_columns)
        table = validate_table(frame[["arch", *columns]], self.space, source=str(self.path / TABLE_FILE),
                               metric_columns=columns)
        # Every evaluation is a label here (no held-out split): the next round measures the
        # predictor honestly on what it proposes (last_round_spearman).
        train = TrainConfig(epochs=self.config.epochs, val_fraction=0.0, seed=self.config.seed + 7919 * retrain,
                            eval_every=self.config.epochs)

        def epochs_done(report) -> None:  # report.epochs: a small table trains more epochs than configured
            if say is not None and (report.epoch % max(1, report.epochs // 10) == 0 or report.epoch == report.epochs):
                say(f"round {r}: training the predictor, epoch {report.epoch}/{report.epochs}", report.epoch,
                    report.epochs)

        return train_from_table(table, self.config.target, path, dataset=self.config.dataset,
                                model_config=PredictorConfig(members=self.config.members), train_config=train,
                                overwrite=True, progress=epochs_done).run


#: How often a round's predictor is trained again when it ties most of its proposals.
RETRAINS = 2


def _short(spec: str) -> str:
    return spec if len(spec) <= 80 else spec[:77] + "..."
