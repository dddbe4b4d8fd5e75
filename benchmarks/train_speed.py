"""Whole-process training speed: 3,000 NAS-Bench-201 architectures x 200 epochs (docs/design.md, section 6).

    python benchmarks/train_speed.py [--n 3000] [--epochs 200] [--device cpu|cuda] [--batch-size 128] [--sparse]
    python benchmarks/train_speed.py --profile [--gnn gatv2|graphconv]   # where one training step goes
    python benchmarks/train_speed.py --members 1,5    # a single predictor, then the default ensemble, and their ratio

Prints wall time of every stage (imports, table, graphs, encoding, training) and of the whole
process, the time per epoch, and peak resident memory. ``--sparse`` trains on PyG's sparse batches
instead of the default dense ones (core.predictor.dense). Aim on the 2-core CPU, 1 thread: training
under 12 s (GraphConv) / 20 s (GATv2) with the same held-out Spearman.
"""
from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core import metrics  # noqa: E402
from core.predictor import (  # noqa: E402
    EncodedGraphs,
    PredictorConfig,
    TrainConfig,
    predict_encoded,
    train_predictor,
)
from core.spaces import get_space  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--gnn", default=PredictorConfig.gnn, help="GNN layer of the predictor (gatv2, graphconv, gin)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", default="1",
                        help="ensemble sizes to train one after another, e.g. 1,5 (the training stage of each and "
                             "their ratio to the first are printed)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default; training itself always runs on one)")
    parser.add_argument("--sparse", action="store_true", help="PyG's sparse batches instead of padded dense ones")
    parser.add_argument("--profile", action="store_true",
                        help="instead of training: split one step into its parts and list torch's busiest ops")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    stages = {"imports": time.perf_counter() - START}

    t = time.perf_counter()
    space = get_space("nasbench201")
    table = space.metrics_table()
    rows = np.random.default_rng(args.seed).permutation(len(table))
    train, test = table.iloc[rows[: args.n]], table.iloc[rows[args.n: args.n + 2000]]
    stages["table"] = time.perf_counter() - t

    t = time.perf_counter()
    graphs = [space.to_graph(a) for a in train.arch]
    stages["graphs"] = time.perf_counter() - t
    t = time.perf_counter()
    store = EncodedGraphs(graphs, space.schema(), dense=not args.sparse)
    stages["encoding"] = time.perf_counter() - t

    if args.profile:
        profile_steps(store, train.baseline_accuracy.to_numpy(), args)
        return
    sizes = [int(k) for k in args.members.split(",")]
    test_store = EncodedGraphs([space.to_graph(a) for a in test.arch], space.schema(), dense=not args.sparse)
    checks, trained = [], {}
    for k in sizes:
        t = time.perf_counter()
        result = train_predictor(store, train.baseline_accuracy.to_numpy(), PredictorConfig(gnn=args.gnn, members=k),
                                 TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                                             val_fraction=0.0, eval_every=args.epochs, device=args.device))
        trained[k] = stages[f"training ({k})"] = time.perf_counter() - t
        pred, norms = predict_encoded(result.model, test_store)
        checks.append((k, metrics.spearman(pred, test.baseline_accuracy),
                       metrics.hop_norm_spearman(norms, test.baseline_accuracy)))
    total = time.perf_counter() - START
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu ({torch.get_num_threads()} threads)"
    print(f"train_speed: nasbench201, {args.n} architectures x {args.epochs} epochs, batch {args.batch_size}, "
          f"device {device}, {args.gnn}, {'dense' if store.dense else 'PyG'} batches, members {args.members}")
    for name, seconds in stages.items():
        print(f"  {name:14s} {seconds:7.2f} s")
    for k in sizes:
        print(f"  per epoch ({k}) {trained[k] / args.epochs * 1000:7.1f} ms; x{trained[k] / trained[sizes[0]]:.2f} "
              f"the first")
    gpu_peak = (f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
                if args.device.startswith("cuda") else "")
    print(f"  whole process {total:.1f} s, peak RSS {peak_mb:.0f} MB{gpu_peak}")
    for k, rho, hops in checks:
        print(f"  check ({k}): held-out Spearman on 2,000 other cells {rho:.3f}; hop-norm Spearman "
              + " ".join(f"{h:.2f}" for h in hops))


def profile_steps(store: EncodedGraphs, y: np.ndarray, args: argparse.Namespace, epochs: int = 5) -> None:
    """Milliseconds per training step, cumulatively: batch gather, + forward, + loss, + backward, + optimiser
    (the whole step of a single predictor as :func:`core.predictor.train._train_epoch` takes it), then torch.profiler's busiest
    ops over 10 steps. One thread, as training runs."""
    from torch.profiler import ProfilerActivity, profile

    from core.predictor.loss import magnitude_ranked_loss
    from core.predictor.model import AutoBuildPredictor
    from core.predictor.adamw import FusedAdamW
    from core.predictor.train import one_thread, resolve_batch_size

    cfg = TrainConfig(batch_size=args.batch_size, seed=args.seed)
    torch.manual_seed(args.seed)
    model = AutoBuildPredictor(store.schema, PredictorConfig(gnn=args.gnn, members=1)).train()
    optimiser = FusedAdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    target = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)
    perm = torch.randperm(len(store))
    size = resolve_batch_size(args.batch_size, len(store))
    batches = [perm[i:i + size] for i in range(0, len(perm) - size + 1, size)]

    def upto(stage: int, ids: torch.Tensor) -> None:
        batch = store.model_batch(ids)
        if stage < 1:
            return
        out = model(batch)
        if stage < 2:
            return
        loss, mse, rank = magnitude_ranked_loss(out.prediction, target[ids], out.graph_embeddings, cfg.lam,
                                                cfg.temperature)
        if stage < 3:
            return
        optimiser.zero_grad()
        loss.backward()
        if stage < 4:
            return
        optimiser.step()
        (loss.item(), mse.item(), rank.item())

    names = ("batch gather", "+ forward", "+ loss", "+ backward", "+ optimiser (whole step)")
    with one_thread():
        for ids in batches:
            upto(4, ids)  # warm-up epoch
        print(f"train_speed --profile: {args.gnn}, {len(store)} cells, batch {size}, "
              f"{len(batches)} steps an epoch, ms per step (cumulative), median of {epochs} epochs")
        times: list[list[float]] = [[] for _ in names]
        for _ in range(epochs):  # the stages in turn, so a busy moment of the machine hits them alike
            for stage in range(len(names)):
                started = time.perf_counter()
                for ids in batches:
                    upto(stage, ids)
                times[stage].append((time.perf_counter() - started) * 1000 / len(batches))
        for name, stage_times in zip(names, times):
            print(f"  {name:26s} {sorted(stage_times)[len(stage_times) // 2]:6.2f} ms")
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for ids in batches[:10]:
                upto(4, ids)
    averages = prof.key_averages()
    aten = sum(e.count for e in averages if e.key.startswith("aten::")) / 10
    print(f"  aten op calls per step (nested included): {aten:.0f}")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
