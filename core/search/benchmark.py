"""Head-to-head: AutoBuild against search baselines at the same number of evaluated architectures.

For one benchmark dataset, budget N and seed, every method may evaluate exactly N + ``extra``
distinct architectures (look-up of the selection metric, e.g. validation accuracy) and finally picks
the evaluated architecture with the best selection metric, as a user would; the reported figure is
that pick's *test* metric.

    autobuild        N random labelled -> predictor -> build -> evaluate the built ones (extra)
    autobuild-graph  the same, cells scored by the graph embedding's hop-L norm (module build only)
    autobuild-norm   the same, each position's ops kept by the paper's norm readout (mean cell score)
                     instead of their estimated mean target (module build only)
    random           N + extra uniformly random architectures
    evolution        regularized evolution (Real et al. 2019) for N + extra evaluations
    predictor        N random labelled -> same predictor's regression head -> its top (extra)
    autobuild+evo    N/2 random labelled -> predictor -> reduced space -> evolution inside it for the
                     remaining N/2 + extra evaluations
    autobuild-rounds N/2 random labelled, then ``rounds`` rounds of: retrain on everything evaluated,
                     build, evaluate the best-ranked unevaluated built ones (core.search.rounds)
    autobuild-local  autobuild-rounds evaluating the best-ranked of the reduced-space members that
                     are one mutation from the 10 best evaluated (``acquire="local"``)
    autobuild-guided regularized evolution (population: the first 20 labelled, N/2 if fewer) whose
                     every child is the best cell-module score of 10 mutations of the tournament
                     winner, the predictor retrained ``rounds`` times (core.search.guided_evolution)
    autobuild-loop   the loop's default as a campaign runs it: the first 20 labelled, then ``rounds``
                     rounds of retrain -> autobuild-guided proposes an equal share of what is left ->
                     evaluate (children of a round chosen in one batch; core.search.searchers.guided)

Every method of a seed uses the same N labelled architectures where it uses labels, and the same
seed for its own randomness.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from core.errors import InputError
from core.eta import Eta
from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig, TrainConfig
from core.predictor.train import train_predictor
from core.runs.config import RunConfig
from core.runs.run import Run
from core.search.baselines import LookupOracle, SearchProgress
from core.search.benchmark_config import METHODS, BenchmarkConfig
from core.search.searchers import get_searcher
from core.spaces import get_space
from core.spaces.base import SearchSpace


@dataclass
class Trial:
    """One method's outcome for one (budget, seed): the picked architecture and its test metric."""

    method: str
    budget: int
    seed: int
    evaluated: int
    picked: str
    picked_select: float
    picked_report: float
    seconds: float


@dataclass
class BenchmarkResult:
    """best_in_space: the best report metric of the space; best_by_select_in_space: the report metric
    of the best architecture by the selection metric; top10_by_select_in_space: the mean report metric
    of the 10 best by the selection metric, what picking by a noisy validation metric can expect;
    best_select_in_space: the best selection metric of the space."""

    config: BenchmarkConfig
    dataset: str
    select: str
    report: str
    best_in_space: float
    best_by_select_in_space: float
    trials: list[Trial] = field(default_factory=list)
    top10_by_select_in_space: float = float("nan")
    best_select_in_space: float = float("nan")
    #: Every selection value of the space, sorted: where a pick's selection value ranks.
    select_sorted: np.ndarray | None = None

    def select_top_percent(self, value: float) -> float:
        """The share of the space (%) whose selection value is at least ``value``: 0.5 = top 0.5 %."""
        if self.select_sorted is None:
            return float("nan")
        at_least = len(self.select_sorted) - np.searchsorted(self.select_sorted, value, side="left")
        return 100.0 * at_least / len(self.select_sorted)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([t.__dict__ for t in self.trials])


def train_in_memory(space_name: str, dataset: str, specs: Sequence[str], y: np.ndarray, config: BenchmarkConfig,
                    seed: int, select: str) -> Run:
    """Train a predictor on labelled specs and wrap it as an in-memory Run (nothing written to disk)."""
    space = get_space(space_name)
    graphs = [space.to_graph(s) for s in specs]
    schema = space.schema(graphs)
    store = EncodedGraphs(graphs, schema)
    result = train_predictor(store, y, PredictorConfig(gnn=config.gnn, members=config.members),
                             TrainConfig(epochs=config.epochs, lam=config.lam, val_fraction=0.0, seed=seed,
                                         eval_every=config.epochs))
    run_config = RunConfig(space=space_name, dataset=dataset, target=select, target_columns=(select,),
                           target_mean=float(result.target_mean), target_std=float(result.target_std),
                           hop_moments=tuple(tuple(map(float, m)) for m in result.hop_moments), seed=seed)
    return _InMemoryRun(run_config, result.model, pd.DataFrame({"arch": list(specs), select: y}))


class _InMemoryRun(Run):
    """A Run that lives only in memory (the benchmark trains hundreds; none is saved), with its labelled
    architectures as its table."""

    def __init__(self, config: RunConfig, model, table: pd.DataFrame) -> None:
        super().__init__(Path("<memory>"), config, model, {})
        self._table = table

    def table(self) -> pd.DataFrame:
        return self._table


@dataclass
class Lookup:
    """A benchmark's look-up table (indexed by spec) and the metrics a search selects and reports by."""

    space: SearchSpace
    dataset: str
    table: pd.DataFrame
    select: str
    report: str

    @classmethod
    def of(cls, config: BenchmarkConfig) -> "Lookup":
        space = get_space(config.space)
        dataset = space.resolve_dataset(config.dataset)
        table = space.metrics_table(dataset).set_index("arch")
        return cls(space, dataset, table, config.select or space.validation_metric,
                   config.report or space.test_metric)

    def labelled(self, budget: int, seed: int) -> list[str]:
        """The N random labelled architectures every method of (budget, seed) shares."""
        rng = np.random.default_rng(seed)
        return [str(s) for s in rng.choice(self.table.index.to_numpy(), size=budget, replace=False)]


def run_method(method: str, config: BenchmarkConfig, lookup: Lookup, budget: int, seed: int,
               shared: dict | None = None, progress: SearchProgress | None = None) -> LookupOracle:
    """One method's search for one (budget, seed): N + ``config.extra`` look-up evaluations (see the
    module docstring), through the searcher registry (core.search.searchers). Returns its LookupOracle: the
    history of what it evaluated, and ``best()``, its pick.

    ``shared`` (a dict per (budget, seed)) lets the methods that train on the same N labelled
    architectures share that predictor, as the benchmark does.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose from {list(METHODS)}")
    labelled = lookup.labelled(budget, seed)
    ev = LookupOracle(lookup.table, lookup.select, lookup.report, budget + config.extra)

    def trainer(specs: list[str], values: list[float], _round: int) -> Run:
        return train_in_memory(config.space, lookup.dataset, specs, np.asarray(values), config, seed, lookup.select)

    searcher = get_searcher(method, config.settings())
    searcher.search(lookup.space, ev, seed, trainer, labelled, progress=progress,
                    shared={} if shared is None else shared)
    return ev


def run_benchmark(config: BenchmarkConfig,
                  progress: Callable[[str], None] | None = None) -> BenchmarkResult:
    """Run every method for every budget and seed (see the module docstring)."""
    say = progress or (lambda message: None)
    lookup = Lookup.of(config)
    table, select, report = lookup.table, lookup.select, lookup.report
    by_select = table.sort_values(select, ascending=False, kind="stable")[report]
    result = BenchmarkResult(config, lookup.dataset, select, report, float(table[report].max()),
                             float(by_select.iloc[0]), top10_by_select_in_space=float(by_select.iloc[:10].mean()),
                             best_select_in_space=float(table[select].max()),
                             select_sorted=np.sort(table[select].to_numpy(dtype=np.float64)))
    eta = Eta(len(config.budgets) * len(config.seeds) * len(config.methods))
    for budget in config.budgets:
        for seed in config.seeds:
            shared: dict = {}
            for method in config.methods:
                started = time.perf_counter()
                ev = run_method(method, config, lookup, budget, seed, shared)
                spec, sel, rep = ev.best()
                seconds = time.perf_counter() - started
                result.trials.append(Trial(method, budget, seed, ev.used, spec, sel, rep, seconds))
                say(f"{lookup.dataset} N={budget} seed={seed} {method:14s} picked test {rep:.4f} "
                    f"({ev.used} evaluated, {seconds:.1f} s); trials {eta.line(len(result.trials))}")
    return result


def summary_table(result: BenchmarkResult) -> pd.DataFrame:
    """Per (budget, method): the mean selection metric of the picked architecture, the mean and std of
    its test metric; plus wins of every AutoBuild variant vs random search and evolution."""
    frame = result.frame()
    rows = []
    for (budget, method), group in frame.groupby(["budget", "method"], sort=False):
        top = [result.select_top_percent(v) for v in group["picked_select"]]
        rows.append({"budget": budget, "method": method, "select_mean": group["picked_select"].mean(),
                     "select_top_percent": float(np.mean(top)), "select_in_top_half_percent": int(np.sum(np.array(top) <= 0.5)),
                     "mean": group["picked_report"].mean(),
                     "std": group["picked_report"].std(ddof=0), "seeds": len(group),
                     "evaluated": int(group["evaluated"].max()), "seconds": group["seconds"].mean()})
    out = pd.DataFrame(rows)
    wins = []  # (budget, AutoBuild variant, baseline, wins, ties, seeds compared)
    for budget in out["budget"].unique():
        picked = frame[frame.budget == budget].pivot_table(index="seed", columns="method", values="picked_report")
        for variant in (m for m in METHODS if m.startswith("autobuild")):
            for baseline in ("random", "evolution"):
                if variant in picked and baseline in picked:
                    a, b = picked[variant], picked[baseline]
                    wins.append((budget, variant, baseline, int((a > b).sum()), int((a == b).sum()), len(a)))
    out.attrs["wins"] = wins
    return out


def markdown_report(result: BenchmarkResult) -> str:
    """The report as Markdown: one table per dataset with every budget and method."""
    table = summary_table(result)
    cfg = result.config
    scale = 100.0 if result.best_in_space <= 1.0 else 1.0  # show fractions as %
    lines = [
        f"### {cfg.space} / {result.dataset}",
        "",
        f"Select by `{result.select}`, report `{result.report}` (x{scale:g}). Best {result.report} in space: "
        f"**{result.best_in_space * scale:.2f}**; {result.report} of the best-by-{result.select} architecture: "
        f"{result.best_by_select_in_space * scale:.2f}; mean {result.report} of the 10 best by {result.select}: "
        f"{result.top10_by_select_in_space * scale:.2f}; best {result.select} in space: "
        f"{result.best_select_in_space * scale:.2f}. Seeds {cfg.seeds[0]}..{cfg.seeds[-1]} "
        f"({len(cfg.seeds)}), k = {cfg.k}, predictor: {cfg.gnn}, {cfg.epochs} epochs, lambda = {cfg.lam}.",
        "",
        f"| N | method | evaluated | {result.select} of pick (what the search maximises) | "
        f"its rank: top % of the space (seeds in the top 0.5 %) | test of pick, mean ± std | regret to best | "
        f"s / trial |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(f"| {row.budget} | {row.method} | {row.evaluated} | {row.select_mean * scale:.2f} | "
                     f"{row.select_top_percent:.2f} ({row.select_in_top_half_percent}/{row.seeds}) | "
                     f"{row.mean * scale:.2f} ± "
                     f"{row.std * scale:.2f} | {max(0.0, result.best_in_space - row.mean) * scale:.2f} | "
                     f"{row.seconds:.1f} |")
    lines.append("")
    for budget, variant, baseline, wins, ties, n in table.attrs["wins"]:
        if n:
            lines.append(f"- N = {budget}: {variant} beats {baseline} in {wins} of {n} seeds ({ties} ties).")
    return "\n".join(lines) + "\n"

