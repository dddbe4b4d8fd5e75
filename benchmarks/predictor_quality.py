"""Predictor quality: held-out ranking of the head and of every hop's embedding norm, lambda 1 vs 0.

    python benchmarks/predictor_quality.py [--datasets cora,citeseer,pubmed,cs,nb201]
                                           [--sizes 100,300,1000] [--seeds 5] [--epochs 200]

For each dataset, training-set size and seed: train on N random architectures (target: the
validation metric, as a user would) and evaluate on 2,000 other architectures of the benchmark:
Spearman and Kendall tau of the regression head, and Spearman of each hop's graph-embedding L1 norm,
for lambda = 1 (magnitude-ranked loss) and lambda = 0 (plain MSE). A non-graph baseline (ridge and
gradient-boosted trees on a one-hot encoding of every node's features) shows whether the GNN earns
its keep. Writes benchmarks/results/predictor_quality.md and prints it.
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
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.feature_extraction import DictVectorizer  # noqa: E402
from sklearn.linear_model import RidgeCV  # noqa: E402

from core import metrics  # noqa: E402
from core.predictor import (  # noqa: E402
    EncodedGraphs,
    PredictorConfig,
    TrainConfig,
    predict_encoded,
    train_predictor,
)
from core.search.benchmark_config import BENCHMARK_DATASETS as DATASETS  # noqa: E402
from core.spaces import get_space  # noqa: E402

TEST_SIZE = 2000


def one_hot(graph) -> dict[str, float]:
    """Node-position x feature-value indicators: the usual tabular encoding of a fixed-size cell."""
    return {f"{i}:{k}={v}": 1.0 for i, node in enumerate(graph.nodes) for k, v in node.items()}


def evaluate(name: str, sizes: list[int], seeds: int, epochs: int, gnn: str = PredictorConfig.gnn) -> pd.DataFrame:
    space_name, dataset = DATASETS[name]
    space = get_space(space_name)
    table = space.metrics_table(dataset)
    metric = space.validation_metric
    graphs = [space.to_graph(a) for a in table.arch]
    schema = space.schema()
    y_all = table[metric].to_numpy()
    rows = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(table))
        test_ids = order[-TEST_SIZE:]
        test_store = EncodedGraphs([graphs[i] for i in test_ids], schema)
        y_test = y_all[test_ids]
        for n in sizes:
            train_ids = order[:n]
            store = EncodedGraphs([graphs[i] for i in train_ids], schema)
            for lam in (1.0, 0.0):
                t = time.perf_counter()
                result = train_predictor(store, y_all[train_ids], PredictorConfig(gnn=gnn),
                                         TrainConfig(epochs=epochs, lam=lam, seed=seed, val_fraction=0.0,
                                                     eval_every=epochs))
                pred, norms = predict_encoded(result.model, test_store)
                rows.append({"dataset": name, "n": n, "seed": seed, "model": f"{gnn} lambda={lam:g}",
                             "spearman": metrics.spearman(pred, y_test), "kendall": metrics.kendall_tau(pred, y_test),
                             "hops": metrics.hop_norm_spearman(norms, y_test), "seconds": time.perf_counter() - t})
            vec = DictVectorizer(sparse=False)
            x_train = vec.fit_transform([one_hot(graphs[i]) for i in train_ids])
            x_test = vec.transform([one_hot(graphs[i]) for i in test_ids])
            for label, model in (("one-hot ridge", RidgeCV(alphas=np.logspace(-3, 3, 13))),
                                 ("one-hot boosted trees", HistGradientBoostingRegressor(random_state=seed))):
                t = time.perf_counter()
                pred = model.fit(x_train, y_all[train_ids]).predict(x_test)
                rows.append({"dataset": name, "n": n, "seed": seed, "model": label,
                             "spearman": metrics.spearman(pred, y_test), "kendall": metrics.kendall_tau(pred, y_test),
                             "hops": None, "seconds": time.perf_counter() - t})
            print(f"{name} seed {seed} n {n}: " + ", ".join(f"{r['model']} {r['spearman']:.3f}" for r in rows[-4:]),
                  file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def report(frame: pd.DataFrame, seeds: int, epochs: int) -> str:
    lines = ["| dataset | N | model | Spearman | Kendall tau | hop-norm Spearman h0..hL (mean) | s / fit |",
             "|---|---|---|---|---|---|---|"]
    for (name, n, model), g in frame.groupby(["dataset", "n", "model"], sort=False):
        hops = "" if g.hops.iloc[0] is None else " ".join(f"{v:+.2f}" for v in np.mean(np.stack(g.hops.to_list()), 0))
        lines.append(f"| {name} | {n} | {model} | {g.spearman.mean():.3f} ± {g.spearman.std(ddof=0):.3f} | "
                     f"{g.kendall.mean():.3f} ± {g.kendall.std(ddof=0):.3f} | {hops} | {g.seconds.mean():.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--gnn", default=PredictorConfig.gnn, help="GNN layer of the predictor (gatv2, graphconv, gin)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predictor_quality.md"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 is fastest for these small graphs, run several processes instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    frame = pd.concat([evaluate(name, sizes, args.seeds, args.epochs, args.gnn) for name in args.datasets.split(",")])
    text = (f"# Predictor quality\n\nMade with `python benchmarks/predictor_quality.py --datasets {args.datasets} "
            f"--sizes {args.sizes} --seeds {args.seeds} --epochs {args.epochs} --gnn {args.gnn}` in "
            f"{(time.perf_counter() - started) / 60:.0f} min on a 2-core CPU. Target: the validation metric; "
            f"evaluated on {TEST_SIZE} other architectures per seed; mean ± std over seeds.\n\n"
            + report(frame, args.seeds, args.epochs))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
