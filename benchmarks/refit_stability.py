"""What "in the top 10 in x of B refits" is worth: refits on halves of the table against the whole-space truth.

    PYTHONPATH=. python benchmarks/refit_stability.py [--datasets cora,citeseer,pubmed,cs,nb201] [--tables 2]
        [--rows 300] [--refits 10] [--out benchmarks/results/refit_stability.md]

For each dataset and table seed s: sample ``rows`` architectures (seed s), train the default ensemble (seed s),
score the table, and refit the predictor on ``refits`` random halves of it (core/scoring/resample_stability.py,
what `score --resamples` and the Modules page's Refit do). Per hop (0 and 1), among all the hop's modules of the
table, rare ones included (the list a user reads and the refits count), the truth's top 10 is the 10 with the
highest mean target over every architecture of the space holding them. Reported:
of the shown top 10, how many are in the truth's top 10, split by how many refits kept them in their hop's top
10 (all of them / at least 80% of them / fewer); and the Spearman between a module's refit count and its truth
over the hop's modules.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pandas as pd  # noqa: E402
from ranking_stability import whole_space_truth  # noqa: E402

from core import metrics as M  # noqa: E402
from core.predictor.config import PredictorConfig, TrainConfig  # noqa: E402
from core.scoring.modules import score_modules  # noqa: E402
from core.scoring.resample_stability import ResampleConfig, resample_top_counts  # noqa: E402
from core.scoring.space_estimate import draw_pool  # noqa: E402
from core.search.benchmark_config import BENCHMARK_DATASETS  # noqa: E402
from core.spaces import get_space  # noqa: E402
from core.tables.sampling import sample_benchmark  # noqa: E402
from core.tables.validated import validate_table  # noqa: E402
from core.workflow import train_from_table  # noqa: E402


def one_table(name: str, seed: int, rows: int, refits: int, truth: pd.Series) -> list[dict]:
    space_name, dataset = BENCHMARK_DATASETS[name]
    target = get_space(space_name).validation_metric
    table = validate_table(sample_benchmark(space_name, dataset, rows, seed), space_name, source=name)
    with tempfile.TemporaryDirectory() as tmp:
        run = train_from_table(table, target, Path(tmp) / "run", dataset=dataset, model_config=PredictorConfig(),
                               train_config=TrainConfig(seed=seed)).run
        frame = run.table()
        graphs = [run.space.to_graph(a) for a in frame["arch"]]
        y = frame[target].to_numpy()
        pool = draw_pool(run, frame["arch"].astype(str))
        rankings = score_modules(run, graphs, y, pool).rankings
        started = time.perf_counter()
        counts = resample_top_counts(run, graphs, y, pd.MultiIndex.from_frame(rankings[["hop", "signature"]]),
                                     pool, ResampleConfig(resamples=refits, seed=1000 * seed))
        seconds = time.perf_counter() - started
    rankings = rankings.assign(refits=counts.to_numpy())
    out = []
    for hop in (0, 1):
        part = rankings[rankings["hop"] == hop].copy()
        part["truth"] = truth.reindex(pd.MultiIndex.from_frame(part[["hop", "signature"]])).to_numpy()
        true_top = set(part.nlargest(10, "truth")["signature"])
        shown = part.nsmallest(10, "rank")
        row = {"dataset": name, "seed": seed, "hop": hop, "seconds": seconds,
               "count_vs_truth": M.spearman(part["refits"].to_numpy(dtype=float), part["truth"].to_numpy())}
        for label, keep in (("all", shown["refits"] == refits), ("80%", shown["refits"] >= 0.8 * refits),
                            ("fewer", shown["refits"] < 0.8 * refits)):
            chosen = shown[keep]
            row[f"{label} shown"] = len(chosen)
            row[f"{label} true"] = int(chosen["signature"].isin(true_top).sum())
        out.append(row)
    return out


def report(frame: pd.DataFrame, args) -> str:
    title = (f"# Refits on halves of the table against the whole-space truth ({args.rows} architectures, "
             f"{args.tables} tables, {args.refits} refits, every module of the hop)")
    command = (f"`PYTHONPATH=. python benchmarks/refit_stability.py --datasets {args.datasets} --tables {args.tables} "
               f"--rows {args.rows} --refits {args.refits}`")
    legend = ("Of each table's shown top 10 at a hop, how many modules every refit kept in its top 10, at least "
              "80 % of the refits did, or fewer did, and how many of each group are in the truth's top 10 "
              "(summed over the tables: true / shown). Last column: Spearman of the refit count with the truth "
              "over the hop's modules (mean over tables). Refit time: the refits alone, per table.")
    lines = [title, "", command, "", legend, "",
             "| dataset | hop | kept by all refits | by >= 80 % | by fewer | count vs truth | refit time |",
             "|---|---|---|---|---|---|---|"]
    for (name, hop), part in frame.groupby(["dataset", "hop"], sort=False):
        cells = []
        for label in ("all", "80%", "fewer"):
            shown, true = int(part[f"{label} shown"].sum()), int(part[f"{label} true"].sum())
            cells.append(f"{true} / {shown}" + (f" ({true / shown:.0%})" if shown else ""))
        lines.append(f"| {name} | {hop} | " + " | ".join(cells)
                     + f" | {part['count_vs_truth'].mean():.2f} | {part['seconds'].mean():.0f} s |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cora,citeseer,pubmed,cs,nb201")
    parser.add_argument("--tables", type=int, default=2)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--refits", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "refit_stability.md"))
    args = parser.parse_args()
    rows = []
    for name in args.datasets.split(","):
        space_name, dataset = BENCHMARK_DATASETS[name]
        truth = whole_space_truth(space_name, dataset, get_space(space_name).validation_metric)
        for seed in range(args.tables):
            rows += one_table(name, seed, args.rows, args.refits, truth)
            print(pd.DataFrame(rows).tail(2).to_string(index=False), flush=True)
    text = report(pd.DataFrame(rows), args)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
