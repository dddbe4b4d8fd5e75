"""Local ranking: how well each readout ranks the mutations of one parent (what guided evolution needs).

    python benchmarks/local_ranking.py [--datasets nb201,cora] [--budget 50] [--seeds 3]

For each seed: train the benchmark predictor on N random labelled architectures, take the 10 best
of them as parents, and draw each parent's distinct one-mutation neighbours in the table. Reported
per readout (``sink`` and ``graph`` cell-module scores, the regression ``head``): the Spearman
correlation with the selection metric among one parent's neighbours (mean over parents), and the
mean metric of the neighbour it picks from 10 random ones (20 draws per parent), next to a random
pick and the best of the 10. core/search/guided_evolution.py chose its readout from this.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from core.building.pool import CellPool  # noqa: E402
from core.search.benchmark import train_in_memory  # noqa: E402
from core.search.benchmark_config import BENCHMARK_DATASETS, BenchmarkConfig  # noqa: E402
from core.spaces import get_space  # noqa: E402

READOUTS = ("sink", "graph", "head")


def one_seed(name: str, budget: int, seed: int, parents: int = 10, offered: int = 10) -> dict[str, float]:
    space_name, dataset = BENCHMARK_DATASETS[name]
    space = get_space(space_name)
    table = space.metrics_table(space.resolve_dataset(dataset)).set_index("arch")
    select = space.validation_metric
    rng = np.random.default_rng(seed)
    labelled = [str(s) for s in rng.choice(table.index.to_numpy(), size=budget, replace=False)]
    config = BenchmarkConfig(space=space_name, dataset=dataset)
    run = train_in_memory(space_name, dataset, labelled, table.loc[labelled, select].to_numpy(), config, seed, select)
    rho: dict[str, list[float]] = {r: [] for r in READOUTS}
    picked: dict[str, list[float]] = {r: [] for r in READOUTS + ("random", "best of 10")}
    for parent in sorted(labelled, key=lambda s: -table.at[s, select])[:parents]:
        neighbours = sorted({space.mutate(parent, rng) for _ in range(200)} & set(table.index) - {parent})
        if len(neighbours) <= offered:
            continue
        y = table.loc[neighbours, select].to_numpy()
        pool = CellPool(space, neighbours, run.schema)
        scores = {"sink": pool.cell_scores(run, "sink"), "graph": pool.cell_scores(run, "graph"),
                  "head": run.predict(pool.store).values}
        for readout, score in scores.items():
            rho[readout].append(spearmanr(score, y).correlation)
        for _ in range(20):
            idx = rng.choice(len(neighbours), size=offered, replace=False)
            for readout, score in scores.items():
                picked[readout].append(y[idx[np.argmax(score[idx])]])
            picked["random"].append(y[idx[0]])
            picked["best of 10"].append(y[idx].max())
    row = {f"rho {r}": float(np.nanmean(v)) for r, v in rho.items()}
    row.update({f"pick {r}": float(np.mean(v)) for r, v in picked.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="nb201,cora")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.datasets.split(","):
        rows = pd.DataFrame([one_seed(name, args.budget, seed) for seed in range(args.seeds)])
        print(f"\n{name}, N = {args.budget}, seeds 0..{args.seeds - 1} (one row per seed)")
        print(rows.round(3).to_string())


if __name__ == "__main__":
    main()
