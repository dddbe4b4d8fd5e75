"""Pick rules under label noise: the test metric of what each method takes home, by rule.

    python benchmarks/pick_rule.py [--datasets cora,citeseer,pubmed,cs,nb201] [--budget 100] [--seeds 10]
                                   [--methods random,evolution,autobuild-loop]

For every dataset, seed and method, the search runs exactly as in benchmarks/build_quality.py (same
N + 4 evaluations, same labelled architectures, same seeds), then each rule of core.search.pick picks from
the same evaluated set: ``observed`` (the best validation value) and ``shrunk`` (the 10 best by
validation, each averaged with a predictor's estimate trained on the other evaluations). Every
method gets every rule. Reports the test metric of the pick, mean ± std over seeds, per rule.
Writes benchmarks/results/pick_rule.md and .csv.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from core.search.benchmark import Lookup, run_method, train_in_memory  # noqa: E402
from core.search.benchmark_config import BENCHMARK_DATASETS as DATASETS  # noqa: E402
from core.search.benchmark_config import BenchmarkConfig
from core.search.pick import PICK_RULES, pick  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--methods", default="random,evolution,autobuild-loop")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pick_rule.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    started = time.perf_counter()
    for name in args.datasets.split(","):
        space, dataset = DATASETS[name]
        config = BenchmarkConfig(space=space, dataset=dataset, budgets=(args.budget,), seeds=tuple(range(args.seeds)))
        lookup = Lookup.of(config)
        for seed in config.seeds:
            shared: dict = {}
            for method in args.methods.split(","):
                ev = run_method(method, config, lookup, args.budget, seed, shared)
                specs = [s for s, _, _ in ev.history]
                values = [v for _, v, _ in ev.history]

                def train(s, v, _r, seed=seed):
                    return train_in_memory(space, lookup.dataset, s, np.asarray(v), config, seed, lookup.select)

                for rule in PICK_RULES:
                    chosen = pick(lookup.space, specs, values, rule, train).index
                    spec, selected, reported = ev.history[chosen]
                    rows.append({"dataset": name, "seed": seed, "method": method, "rule": rule, "picked": spec,
                                 "picked_select": selected, "picked_report": reported})
                print(f"{name} seed {seed} {method}: " + ", ".join(
                    f"{r['rule']} {r['picked_report']:.4f}" for r in rows[-len(PICK_RULES):]), file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    minutes = (time.perf_counter() - started) / 60
    out = Path(args.out)
    frame.to_csv(out.with_suffix(".csv"), index=False)
    out.write_text(report(frame, args, minutes))
    print(out.read_text())


def report(frame: pd.DataFrame, args: argparse.Namespace, minutes: float) -> str:
    lines = ["# Pick rules under label noise", "", __doc__.split("\n\n")[2].replace("\n", " ").strip(), "",
             f"Made with `python benchmarks/pick_rule.py --datasets {args.datasets} --budget {args.budget} "
             f"--seeds {args.seeds} --methods {args.methods}` in {minutes:.0f} min on a 2-core CPU. "
             "Test metric of the pick (x100 for NAS-Bench-Graph), mean ± std over seeds.", ""]
    methods = args.methods.split(",")
    lines.append("| dataset | rule | " + " | ".join(methods) + " |")
    lines.append("|---|---|" + "---|" * len(methods))
    for name, by_dataset in frame.groupby("dataset", sort=False):
        scale = 100.0 if by_dataset["picked_report"].max() <= 1.0 else 1.0
        for rule in PICK_RULES:
            cells = []
            for method in methods:
                values = by_dataset[(by_dataset["rule"] == rule) & (by_dataset["method"] == method)]["picked_report"]
                cells.append(f"{values.mean() * scale:.2f} ± {values.std(ddof=0) * scale:.2f}")
            lines.append(f"| {name} | {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
