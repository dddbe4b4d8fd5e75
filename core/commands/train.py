"""``python -m core train``: train AutoBuild's predictor on a table and write a run directory."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.commands import arg_types, torch_threads
from core.errors import InputError
from core.eta import Eta, format_seconds
from core.predictor.config import GNN_NAMES, PredictorConfig, TrainConfig

# Only torch-free modules above: the rest (torch, PyG, spaces, tables) is imported in run(), so that
# --help and argument errors answer at once (tests/test_cli.py checks that torch stays out).

HELP = "train the predictor (FE-MLP + GNN, magnitude-ranked loss) on a table and save a run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="search space of the table's arch column")
    parser.add_argument("--table", required=True, help="architecture/metric table (.csv, .parquet, .jsonl)")
    parser.add_argument("--target", required=True, help="target expression over metric columns, e.g. 'acc' "
                        "or '100**(acc/100) / log10(latency_ms)'")
    parser.add_argument("--out", required=True, help="run directory to create")
    parser.add_argument("--dataset", default=None, help="benchmark dataset the table comes from (for look-ups)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs,
                        help="training epochs (raised on a small table until --min-steps optimiser steps)")
    parser.add_argument("--min-steps", type=int, default=TrainConfig.min_steps,
                        help="train a small table for more epochs until this many optimiser steps "
                             "(0 = exactly --epochs)")
    parser.add_argument("--seed", type=arg_types.seed, default=TrainConfig.seed)
    parser.add_argument("--gnn", choices=sorted(GNN_NAMES), default=PredictorConfig.gnn)
    parser.add_argument("--width", type=int, default=PredictorConfig.width)
    parser.add_argument("--layers", type=int, default=PredictorConfig.layers)
    parser.add_argument("--members", type=int, default=PredictorConfig.members,
                        help="ensemble members trained together and read as one; their spread is every score's "
                             "interval (1 = a single predictor)")
    parser.add_argument("--lambda", dest="lam", type=float, default=TrainConfig.lam,
                        help="weight of the rank term (0 = plain MSE ablation)")
    parser.add_argument("--val-fraction", type=float, default=TrainConfig.val_fraction,
                        help="share of the rows each member holds out, a different share per member "
                             "(held-out figures are out of fold; 0 = no split)")
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--patience", type=int, default=None, help="early stopping on validation Spearman")
    parser.add_argument("--keep-last", action="store_true",
                        help="keep the last epoch's weights instead of restoring the best validation epoch's")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    torch_threads.add_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def run(args: argparse.Namespace) -> int:
    from core.spaces import get_space
    from core.tables.validated import load_table
    from core.targets.target import parse_target, target_warnings

    out = Path(args.out)
    if out.exists() and out.is_dir() and any(out.iterdir()) and not args.overwrite:
        # core's message names no flag (the dashboard shows it too); said before the table is read.
        raise InputError(f"run directory {out} already exists; choose another --out, or pass --overwrite to "
                         "replace it")
    space = get_space(args.space)
    if args.dataset is not None:
        space.resolve_dataset(args.dataset)
    try:
        model_config = PredictorConfig(gnn=args.gnn, width=args.width, layers=args.layers, members=args.members)
        train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lam=args.lam,
                                   val_fraction=args.val_fraction, seed=args.seed, patience=args.patience,
                                   min_steps=args.min_steps,
                                   device=args.device, keep_best=not args.keep_last)
    except ValueError as err:
        raise InputError(str(err)) from None
    # torch and PyG: only once the arguments hold
    from core.predictor.train import EpochReport
    from core.runs.run import check_run_out
    from core.workflow import format_summary, train_from_table

    check_run_out(out, args.overwrite)  # a file, a path below a file, or --overwrite onto a non-run
    torch_threads.apply(args)
    table = load_table(args.table, space)
    # Said before training, which can take minutes: a divisor that flips or breaks the ranking.
    target = parse_target(args.target, table.metric_columns)
    for warning in target_warnings(table.frame, target):
        sys.stderr.write(f"warning: {warning}\n")

    eta = Eta(train_config.epochs)

    def progress(report: EpochReport) -> None:
        if args.quiet or (report.epoch % 10 and report.epoch != report.epochs):
            return
        rho = "" if report.val_spearman is None else f"  val Spearman {report.val_spearman:.3f}"
        sys.stderr.write(f"epoch {report.epoch:4d}/{report.epochs}  loss {report.loss:.4f} "
                         f"(mse {report.mse:.4f}, rank {report.rank:.4f}){rho}  "
                         f"about {format_seconds(eta.remaining(report.epoch) or 0)} left\n")

    outcome = train_from_table(table, args.target, args.out, dataset=args.dataset, model_config=model_config,
                               train_config=train_config, overwrite=args.overwrite, progress=progress)
    if outcome.excluded_summary:
        print(f"note: {outcome.excluded_summary}")
    print(format_summary(outcome.run, outcome.metrics))
    return 0
