"""Build quality: AutoBuild vs random search, regularized evolution and a predictor baseline.

    python benchmarks/build_quality.py [--datasets cora,citeseer,pubmed,cs,nb201] [--budgets 50,100,200]
                                       [--seeds 10] [--epochs 200] [--methods M,...] [--merge]

Every method evaluates the same number of architectures (N + 4) per seed and picks by the validation
metric; the table reports the test metric of the pick (mean ± std over seeds). Writes
benchmarks/results/build_quality.md (and a CSV of every trial) and prints the report. ``--merge`` adds
the rows of ``--methods`` (at some or all of the report's budgets) to the report already at ``--out``:
its other methods' trials are kept from its CSV (every method's trials depend only on the dataset, budget and seed, so they need not be re-run).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from core.predictor.config import PredictorConfig  # noqa: E402
from core.search.benchmark import BenchmarkResult, Trial, markdown_report, run_benchmark
from core.search.benchmark_config import BENCHMARK_DATASETS as DATASETS
from core.search.benchmark_config import METHODS, BenchmarkConfig

VARIANTS = """Variants: `autobuild` is the straight method (N labelled, one predictor, build, the built
ones evaluated; cells scored by the sink readout); `autobuild-graph` scores cells by the graph
embedding's hop-L norm; `autobuild-norm` keeps each position's ops by their mean cell score (the
paper's norm readout) instead of their estimated mean target (the default, the Modules page's order);
`autobuild+evo` runs evolution inside the reduced space; `autobuild-rounds`
spends the budget after N/2 labels in train-build-evaluate rounds, evaluating the best-ranked
reduced-space members; `autobuild-local` does the same but ranks only the members one mutation from
the 10 best evaluated (core/search/rounds.py); `autobuild-guided` is regularized evolution whose every
child is the best of 10 mutations by the graph-readout cell-module score (core/search/guided_evolution.py);
`autobuild-loop` is the campaign's default as `python -m core loop` runs it: the first 20 labelled, then
4 rounds of retrain -> autobuild-guided proposes a quarter of what is left -> evaluate (the children of
a round are chosen together, as a user evaluating a round in parallel would; core/search/searchers/guided.py).
The picks are chosen by the selection metric; the table reports their test metric."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--budgets", default="50,100,200")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--gnn", default=PredictorConfig.gnn, help="GNN layer of the predictor (gatv2, graphconv, gin)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--rounds", type=int, default=BenchmarkConfig.rounds, help="rounds of autobuild-rounds")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "build_quality.md"))
    parser.add_argument("--merge", action="store_true",
                        help="add these methods' rows to the report at --out, keeping its other methods' trials")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 is fastest for these small graphs, run several processes instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budgets = tuple(int(b) for b in args.budgets.split(","))
    out = Path(args.out)
    if args.merge and not out.with_suffix(".csv").is_file():
        raise SystemExit(f"--merge: no earlier report at {out.with_suffix('.csv')}")
    earlier = pd.read_csv(out.with_suffix(".csv")) if args.merge else None
    sections, frames = [], []
    started = time.perf_counter()
    for name in args.datasets.split(","):
        space, dataset = DATASETS[name]
        config = BenchmarkConfig(space=space, dataset=dataset, budgets=budgets, seeds=tuple(range(args.seeds)),
                                 epochs=args.epochs, gnn=args.gnn, rounds=args.rounds,
                                 methods=tuple(args.methods.split(",")))
        keep = earlier_trials(earlier, name, config) if earlier is not None else None
        result = run_benchmark(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
        if keep is not None:
            merge_trials(result, keep)
        sections.append(markdown_report(result))
        frames.append(result.frame().assign(dataset=name))
        print(sections[-1], flush=True)
    command = (f"python benchmarks/build_quality.py --datasets {args.datasets} --budgets {args.budgets} "
               f"--seeds {args.seeds} --epochs {args.epochs} --gnn {args.gnn} --methods {args.methods} "
               f"--rounds {args.rounds}")
    minutes = (time.perf_counter() - started) / 60
    if args.merge:
        # Keep the earlier report's prose (variants, caveats, how it was made) and say what was added.
        prose = out.read_text().split("\n### ")[0].rstrip()
        header = f"{prose}\n\nThen `{command} --merge` added {args.methods} in {minutes:.0f} min.\n\n"
        frames.append(earlier[~earlier["dataset"].isin(args.datasets.split(","))])
    else:
        header = (f"# Build quality (predictor: {args.gnn})\n\n{VARIANTS}\n\nMade with `{command}` in "
                  f"{minutes:.0f} min on a 2-core CPU.\n\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "\n".join(sections))
    pd.concat(frames).to_csv(out.with_suffix(".csv"), index=False)
    print(f"wrote {out}")


def earlier_trials(earlier: pd.DataFrame, name: str, config: BenchmarkConfig) -> pd.DataFrame:
    """The earlier report's trials of dataset ``name`` for the methods ``config`` does not run; they
    must cover the same budgets and seeds (checked before running, so a mismatch costs nothing)."""
    keep = earlier[(earlier["dataset"] == name) & ~earlier["method"].isin(config.methods)]
    if not set(config.budgets) <= set(keep["budget"]) or set(keep["seed"]) != set(config.seeds):
        # Merging a different run would drop the earlier report's other rows: refuse rather than lose them.
        raise SystemExit(f"--merge: the earlier {name} report has budgets {sorted(set(keep['budget']))} and seeds "
                         f"{sorted(set(keep['seed']))}; run with --budgets among them and the same --seeds")
    return keep


def merge_trials(result: BenchmarkResult, keep: pd.DataFrame) -> None:
    """Add earlier trials to ``result`` and order every trial by budget, method (as in METHODS) and
    seed, as a full run would."""
    cfg = result.config
    fields = [f.name for f in dataclasses.fields(Trial)]
    result.trials += [Trial(**{f: row[f] for f in fields}) for row in keep.to_dict("records")]
    methods = set(cfg.methods) | set(keep["method"])
    budgets = tuple(sorted(set(cfg.budgets) | set(int(b) for b in keep["budget"])))
    cfg = result.config = dataclasses.replace(cfg, methods=tuple(m for m in METHODS if m in methods), budgets=budgets)
    result.trials.sort(key=lambda t: (cfg.budgets.index(t.budget), METHODS.index(t.method), t.seed))


if __name__ == "__main__":
    main()
