"""Which modules drive latency, and do architectures built for low latency really measure fast?

    python benchmarks/ofa_latency_build.py [--table sample_data/ofa_mbv3_latency_cpu.csv]
                                           [--target -latency_ms] [--top 8] [--k 3] [--seed 0]

Trains AutoBuild's predictor on a measured OFA MobileNetV3 latency table (target: the negated
latency, so higher is better), prints the best and worst modules at a few hops and the 0-hop feature
importance, builds ``--top`` architectures from the best stage candidates, and then measures, in
this one process and under the same conditions: the built architectures, the same number of fresh
random architectures, and the table's fastest architectures (the best a user could pick from the
measured table). Latencies in a table measured earlier are not compared with fresh ones, since load
on the machine moves them. Writes benchmarks/results/ofa_latency_build.md and prints it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from core.building.builder import build_architectures  # noqa: E402
from core.building.config import BuildConfig  # noqa: E402
from core.predictor import TrainConfig  # noqa: E402
from core.scoring.modules import score_modules  # noqa: E402
from core.scoring.space_estimate import draw_pool  # noqa: E402
from core.spaces import get_space  # noqa: E402
from core.tables.validated import load_table  # noqa: E402
from core.workflow import train_from_table  # noqa: E402


def measure_all(space, specs: list[str], metric: str, device: str) -> list[float]:
    return [float(space.measure(spec, "latency", device=device, threads=1)[metric]) for spec in specs]


def modules_markdown(scores, hops: list[int], rows: int) -> str:
    lines = []
    for hop in hops:
        ranking = scores.ranking(hop)
        lines += [f"\nHop {hop} ({len(ranking)} modules, in the product's order: the estimated mean latency of the "
                  "space's subnets holding the module; score = standardised embedding norm, higher = faster):\n",
                  "| rank | module | estimated latency (ms) ± s.e. | score | architectures | their mean latency (ms) |",
                  "|---|---|---|---|---|---|"]
        shown = pd.concat([ranking.head(rows), ranking.tail(rows)])
        for rank, row in zip(list(range(1, rows + 1)) + list(range(len(ranking) - rows + 1, len(ranking) + 1)),
                             shown.itertuples()):
            lines.append(f"| {rank} | {row.description} | {-row.estimate:.2f} ± {row.estimate_se:.2f} | {row.mean_score:+.2f} "
                         f"| {row.architectures} | {-row.mean_target:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=str(ROOT / "sample_data" / "ofa_mbv3_latency_cpu.csv"))
    parser.add_argument("--space", default="ofa-mbv3")
    parser.add_argument("--target", default="-latency_ms", help="negated latency column (higher is better)")
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ofa_latency_build.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    metric = args.target.lstrip("-")
    space = get_space(args.space)
    table = load_table(args.table, args.space)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        outcome = train_from_table(table, args.target, Path(tmp) / "run",
                                   train_config=TrainConfig(seed=args.seed))
        run = outcome.run
        trained_s = time.perf_counter() - started
        pool = draw_pool(run, table.frame["arch"].astype(str))  # what `score` and the Modules page use
        scores = score_modules(run, table.graphs, -table.frame[metric].to_numpy(), pool)
        built = build_architectures(run, BuildConfig(top=args.top, k=args.k))

    rng = np.random.default_rng(args.seed + 1)
    random_specs = space.sample_distinct(args.top, rng)
    fastest_specs = table.frame.sort_values(metric).arch.head(args.top).tolist()
    built_specs = built.built.arch.tolist()
    measured = {}
    for name, specs in (("AutoBuild built", built_specs), ("random", random_specs),
                        (f"table's fastest {args.top}", fastest_specs)):
        measured[name] = measure_all(space, specs, metric, args.device)
    # Where the fresh latencies fall in the table (same subnets re-measured would be the fair basis; the
    # table's percentile is a guide only).
    reference = np.sort(table.frame[metric].to_numpy())

    q = outcome.metrics["heldout"]
    lines = [
        "# Low-latency MobileNetV3 subnets from module rankings",
        "",
        f"`python benchmarks/ofa_latency_build.py --table {Path(args.table).relative_to(ROOT) if Path(args.table).is_relative_to(ROOT) else args.table} "
        f"--target={args.target} --top {args.top} --k {args.k} --seed {args.seed}` "
        f"({len(table.frame)} measured subnets; {time.perf_counter() - started:.0f} s in all, training {trained_s:.0f} s; "
        f"torch {torch.__version__}, 1 thread, device {args.device}).",
        "",
        f"Predictor on the validation split: Spearman {q['spearman']:.3f}, Kendall tau {q['kendall_tau']:.3f}; "
        f"hop-norm Spearman " + " ".join(f"{h:+.2f}" for h in q["hop_norm_spearman"]) + ".",
        "",
        "## Which features and modules drive latency",
        "",
        "0-hop feature importance (FE-MLP; larger = pushes the embedding norm up = predicted faster):",
        "",
        "| feature | value | importance |", "|---|---|---|",
    ]
    for row in scores.feature_importance.sort_values(["feature", "importance"], ascending=[True, False]).itertuples():
        lines.append(f"| {row.feature} | {row.value} | {row.importance:.3f} |")
    lines.append(modules_markdown(scores, [1, run.hops], 5))
    lines += ["", "## Built architectures measured", "",
              f"Reduced space: {built.reduced_space_size:,} architectures (top {args.k} candidates of each of "
              f"{len(space.units())} stages). All three sets measured now, in this process, one after another:",
              "", f"| set | median {metric} | mean | min | max | table percentile of the median (lower = faster) |",
              "|---|---|---|---|---|---|"]
    for name, values in measured.items():
        pct = 100.0 * np.searchsorted(reference, np.median(values)) / len(reference)
        lines.append(f"| {name} | {np.median(values):.2f} | {np.mean(values):.2f} | {np.min(values):.2f} | "
                     f"{np.max(values):.2f} | {pct:.1f} |")
    lines += ["", "Built architectures:", "", "| arch | score | predicted | measured |", "|---|---|---|---|"]
    for row, value in zip(built.built.itertuples(), measured["AutoBuild built"]):
        lines.append(f"| `{row.arch}` | {row.score:.2f} | {-row.predicted:.2f} | {value:.2f} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
