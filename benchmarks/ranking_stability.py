"""How far a run's per-hop module ranking can be trusted: against the whole space, across seeds, and collapse.

    PYTHONPATH=. python benchmarks/ranking_stability.py [--datasets cora,citeseer,pubmed,cs,nb201]
        [--seeds 6] [--rows 300] [--min-count 3] [--collapse-seeds 20] [--out benchmarks/results/ranking_stability.md]

For each dataset and seed s: sample ``rows`` architectures of the benchmark with seed s (``python -m core sample``),
train with the defaults of ``python -m core train`` (seed s) once as a single predictor (``members=1``, every run
before ensembles) and once as the default ensemble, score the training table (``python -m core score``), and
compare each hop's ranking of the modules held by at least ``min-count`` architectures with the truth: the mean
target of every architecture in the whole space that holds the module. The rankings, per hop:

- ``single score`` / ``ensemble score``: the model's module score alone (``mean_score``);
- ``single shown`` / ``ensemble shown``: the order the product shows (``rank``: the module's estimated
  whole-space mean target, the predictor's mean over the space's architectures holding it, corrected by the
  table's shrunk mean residual; core/scoring/space_estimate.py);
- ``single lower bound`` / ``ensemble lower bound``: the estimate less its standard error (the risk-averse
  order the product does not use);
- ``table mean``: the model-free mean target of the table's architectures holding the module.

Reported per hop: Spearman with the truth (mean and min over seeds), the top-10 overlap between runs of different
seeds (mean over pairs; the truth-ordered ranking of each table gives the ceiling), and training time. The collapse
rate is measured over ``collapse-seeds`` trainings on one table per dataset: a run collapsed when any hop's
train-split norm Spearman is below 0.5, or its predictions tie on more than half of the table (the issue's
rule), and as the product's guard reports it (every member below the hop's floor).
Target: the benchmark's validation metric (NAS-Bench-Graph ``valid_perf``, NAS-Bench-201 ``baseline_accuracy``).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from core import metrics as M  # noqa: E402
from core.predictor.config import DEFAULT_MEMBERS, PredictorConfig, TrainConfig  # noqa: E402
from core.predictor.collapse import tied_head  # noqa: E402
from core.runs.run import Run  # noqa: E402
from core.scoring.modules import score_modules  # noqa: E402
from core.scoring.space_estimate import draw_pool  # noqa: E402
from core.search.benchmark_config import BENCHMARK_DATASETS  # noqa: E402
from core.spaces import get_space  # noqa: E402
from core.tables.sampling import sample_benchmark  # noqa: E402
from core.tables.validated import validate_table  # noqa: E402
from core.workflow import train_from_table  # noqa: E402

RANKINGS = ("single score", "single shown", "single lower bound", "ensemble score", "ensemble shown",
            "ensemble lower bound", "table mean")
HOPS = PredictorConfig().layers


def whole_space_truth(space_name: str, dataset: str, target: str) -> pd.Series:
    """Mean target of every architecture in the space holding each (hop, signature)."""
    space = get_space(space_name)
    table = space.metrics_table(space.resolve_dataset(dataset))
    y = table[target].to_numpy()
    hops, signatures, holders = [], [], []
    for i, arch in enumerate(table["arch"]):
        for h, level in enumerate(space.to_graph(arch).signatures(HOPS)):
            for signature in set(level):
                hops.append(h)
                signatures.append(signature)
                holders.append(i)
    frame = pd.DataFrame({"hop": hops, "signature": signatures, "y": y[holders]})
    return frame.groupby(["hop", "signature"])["y"].mean()


def train_and_rank(space_name: str, dataset: str, target: str, table, seed: int, members: int, folder: Path):
    """(rankings, seconds, run) of one default training of ``members`` members on ``table``."""
    started = time.perf_counter()
    outcome = train_from_table(table, target, folder / f"m{members}_s{seed}", dataset=dataset,
                               model_config=PredictorConfig(members=members), train_config=TrainConfig(seed=seed))
    seconds = time.perf_counter() - started
    run = outcome.run
    frame = run.table()
    graphs = [run.space.to_graph(a) for a in frame["arch"]]
    pool = draw_pool(run, frame["arch"].astype(str))  # what `score` and the Modules page use
    return score_modules(run, graphs, frame[target].to_numpy(), pool).rankings, seconds, run


def orderings(rankings: pd.DataFrame, table_rankings: bool) -> dict[str, pd.Series]:
    """Ranking name -> value per (hop, signature) (higher = better)."""
    index = pd.MultiIndex.from_frame(rankings[["hop", "signature"]])
    score = pd.Series(rankings["mean_score"].to_numpy(), index=index)
    shown = pd.Series(-rankings["rank"].to_numpy(dtype=float), index=index)
    lower = pd.Series((rankings["estimate"] - rankings["estimate_se"]).to_numpy(), index=index)
    out = {"score": score, "shown": shown, "lower bound": lower}
    if table_rankings:
        out["table mean"] = pd.Series(rankings["mean_target"].to_numpy(), index=index)
    return out


def one_dataset(name: str, seeds: int, rows: int, min_count: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    space_name, dataset = BENCHMARK_DATASETS[name]
    space = get_space(space_name)
    target = space.validation_metric
    truth = whole_space_truth(space_name, dataset, target)
    results, tops, seconds = [], {}, {"single": [], "ensemble": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            table = validate_table(sample_benchmark(space_name, dataset, rows, seed), space_name, source=name)
            ranked = {}
            for label, members in (("single", 1), ("ensemble", DEFAULT_MEMBERS)):
                rankings, secs, _ = train_and_rank(space_name, dataset, target, table, seed, members, Path(tmp))
                seconds[label].append(secs)
                for kind, values in orderings(rankings, label == "single").items():
                    ranked[kind if kind == "table mean" else f"{label} {kind}"] = values
                held = rankings.set_index(["hop", "signature"])["architectures"] >= min_count
            for kind, values in ranked.items():
                for h in range(HOPS + 1):
                    part = values[held & (values.index.get_level_values(0) == h)]
                    true = truth.reindex(part.index).to_numpy()
                    # Every module of the hop, rare ones too: where its truth ranks among them (1 = best).
                    every = values[values.index.get_level_values(0) == h]
                    percentile = truth.reindex(every.index).rank(pct=True)
                    results.append({"dataset": name, "seed": seed, "ranking": kind, "hop": h,
                                    "spearman": M.spearman(part.to_numpy(), true),
                                    "top10_percentile": float(percentile.reindex(every.nlargest(10).index).mean())})
                    tops[(kind, h, seed)] = set(part.nlargest(10).index)
                    tops[("truth", h, seed)] = set(pd.Series(true, index=part.index).nlargest(10).index)
    overlap = []
    for (kind, h) in {(k, h) for k, h, _ in tops}:
        shared = [len(tops[(kind, h, a)] & tops[(kind, h, b)]) / 10
                  for a, b in itertools.combinations(range(seeds), 2)]
        overlap.append({"dataset": name, "ranking": kind, "hop": h, "top10_overlap": float(np.mean(shared))})
    return pd.DataFrame(results), pd.DataFrame(overlap), {k: float(np.mean(v)) for k, v in seconds.items()}


def collapse_rate(name: str, seeds: int, rows: int, members: int) -> tuple[float, float]:
    """(the issue's rate, the guard's rate) over ``seeds`` trainings on one table (sample seed 0): the share
    with a hop whose train-split norm Spearman is below 0.5 or tied predictions, and the share the product's
    guard reports collapsed (every member below the hop's floor, metrics.json ``members.collapsed_hops``)
    or tied."""
    space_name, dataset = BENCHMARK_DATASETS[name]
    target = get_space(space_name).validation_metric
    table = validate_table(sample_benchmark(space_name, dataset, rows, 0), space_name, source=name)
    issue = guard = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            outcome = train_from_table(table, target, Path(tmp) / f"c{seed}", dataset=dataset,
                                       model_config=PredictorConfig(members=members),
                                       train_config=TrainConfig(seed=seed))
            train = outcome.metrics["train"]
            run = Run.load(Path(tmp) / f"c{seed}")
            values = run.predict([run.space.to_graph(a) for a in run.table()["arch"]]).values
            tied = tied_head(values)
            issue += int(tied or any(not (rho >= 0.5) for rho in train["hop_norm_spearman"]))
            guard += int(tied or bool(outcome.metrics["members"]["collapsed_hops"]))
    return issue / seeds, guard / seeds


def report(results: pd.DataFrame, overlap: pd.DataFrame, seconds: dict, collapse: pd.DataFrame, args) -> str:
    stats = results.groupby(["dataset", "ranking", "hop"])["spearman"].agg(["mean", "min"]).reset_index()
    lines = [f"# Ranking stability ({args.rows} architectures, {args.seeds} seeds, modules in >= {args.min_count} "
             "architectures)", "",
             f"`PYTHONPATH=. python benchmarks/ranking_stability.py --datasets {args.datasets} --seeds {args.seeds} "
             f"--rows {args.rows} --collapse-seeds {args.collapse_seeds}`", "",
             "Spearman of each hop's ranking with the whole-space truth, mean (min) over seeds; top-10 overlap "
             "between runs of different seeds (truth: the same protocol ordered by the truth itself); top-10 truth "
             "percentile: where the truth places a ranking's top 10 among all the hop's modules of the table, "
             "rare ones included (mean over seeds; 100% = the truly best).", ""]
    for name in results["dataset"].unique():
        lines += [f"## {name}", "", "| ranking | " + " | ".join(f"hop {h}" for h in range(HOPS + 1)) + " |",
                  "|---" * (HOPS + 2) + "|"]
        for kind in RANKINGS:
            cells = []
            for h in range(HOPS + 1):
                row = stats[(stats.dataset == name) & (stats.ranking == kind) & (stats.hop == h)]
                cells.append(f"{row['mean'].iloc[0]:.2f} ({row['min'].iloc[0]:.2f})" if len(row) else "")
            lines.append(f"| {kind} vs truth | " + " | ".join(cells) + " |")
        for kind in RANKINGS + ("truth",):
            cells = [f"{v:.0%}" for v in overlap[(overlap.dataset == name) & (overlap.ranking == kind)]
                     .sort_values("hop")["top10_overlap"]]
            lines.append(f"| {kind} top-10 overlap | " + " | ".join(cells) + " |")
        quality = results[results.dataset == name].groupby(["ranking", "hop"])["top10_percentile"].mean()
        for kind in RANKINGS:
            cells = [f"{quality[(kind, h)]:.0%}" for h in range(HOPS + 1)]
            lines.append(f"| {kind} top-10 truth percentile | " + " | ".join(cells) + " |")
        lines += ["", f"Training (whole `train_from_table`, this machine): single {seconds[name]['single']:.1f} s, "
                  f"ensemble of {DEFAULT_MEMBERS} {seconds[name]['ensemble']:.1f} s "
                  f"({seconds[name]['ensemble'] / seconds[name]['single']:.2f}x).", ""]
    if len(collapse):
        lines += ["## Collapse rate", "", f"{args.collapse_seeds} training seeds on each dataset's seed-0 table; "
                  "a run collapsed (the issue's rule) when a hop's train-split norm Spearman < 0.5 or its predictions "
                  "tie on more than half of the table. The guard's rate: runs the product reports collapsed, a hop "
                  "where every member is below the hop's floor (half of what the table's own module means reach "
                  "there, core/predictor/collapse.py) or tied predictions.", "",
                  "| dataset | single | ensemble | single, guard | ensemble, guard |", "|---|---|---|---|---|"]
        for row in collapse.itertuples():
            lines.append(f"| {row.dataset} | {row.single:.0%} | {row.ensemble:.0%} | {row.single_guard:.0%} "
                         f"| {row.ensemble_guard:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cora,citeseer,pubmed,cs,nb201")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--collapse-seeds", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/ranking_stability.md"))
    args = parser.parse_args()
    parts, overlaps, seconds, collapse = [], [], {}, []
    for name in args.datasets.split(","):
        results, overlap, secs = one_dataset(name, args.seeds, args.rows, args.min_count)
        parts.append(results)
        overlaps.append(overlap)
        seconds[name] = secs
        if args.collapse_seeds:
            single = collapse_rate(name, args.collapse_seeds, args.rows, 1)
            ensemble = collapse_rate(name, args.collapse_seeds, args.rows, DEFAULT_MEMBERS)
            collapse.append({"dataset": name, "single": single[0], "ensemble": ensemble[0],
                             "single_guard": single[1], "ensemble_guard": ensemble[1]})
        text = report(pd.concat(parts), pd.concat(overlaps), seconds, pd.DataFrame(collapse), args)
        Path(args.out).write_text(text)
        print(text, flush=True)


if __name__ == "__main__":
    main()
