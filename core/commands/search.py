"""``python -m core search``: one search on a shipped benchmark, with every evaluation and the pick.

The benchmark command reports means over seeds; this runs one method for one budget and seed (the
same code, so its pick is that benchmark trial's) and shows what was found: the evaluation history
(step, architecture, selection and test metric, best so far) and the architecture it finally picks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from core.commands import arg_types, torch_threads
from core.errors import InputError
from core.search.benchmark_config import METHODS, BenchmarkConfig
from core.eta import Eta, format_seconds

HELP = "run one search method on a shipped benchmark and write its evaluation history and pick"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="a space with a shipped look-up table")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--method", default="autobuild-guided", help=f"one of {', '.join(METHODS)}")
    parser.add_argument("--budget", type=int, default=100, help="N: labelled architectures (the search "
                        "evaluates N + extra in all)")
    parser.add_argument("--extra", type=int, default=BenchmarkConfig.extra)
    parser.add_argument("--seed", type=arg_types.seed, default=0)
    parser.add_argument("--k", type=int, default=BenchmarkConfig.k)
    parser.add_argument("--epochs", type=int, default=BenchmarkConfig.epochs)
    parser.add_argument("--rounds", type=int, default=BenchmarkConfig.rounds,
                        help="rounds (autobuild-rounds/-local) or predictor trainings (autobuild-guided)")
    torch_threads.add_argument(parser)
    parser.add_argument("--out", default=None, help="write the evaluation history here (.csv, .parquet, .jsonl)")


def run(args: argparse.Namespace) -> int:
    from core.files.table_io import check_output_table, write_table
    from core.spaces import get_space

    space = get_space(args.space)
    if not space.has_lookup:
        raise InputError(f"space {args.space!r} ships no look-up table to search")
    if args.dataset is not None:
        space.resolve_dataset(args.dataset)
    if args.method not in METHODS:
        raise InputError(f"unknown method {args.method!r}; choose from {list(METHODS)}")
    if args.out:  # refuse before searching, not after
        check_output_table(args.out)
    try:
        config = BenchmarkConfig(space=args.space, dataset=args.dataset, budgets=(args.budget,), seeds=(args.seed,),
                                 extra=args.extra, k=args.k, epochs=args.epochs, rounds=args.rounds,
                                 methods=(args.method,))
    except ValueError as err:
        raise InputError(str(err)) from None
    from core.search.benchmark import (  # torch and PyG: only once the arguments hold
        Lookup,
        run_method,
    )

    torch_threads.apply(args)
    lookup = Lookup.of(config)

    step = max(1, (args.budget + args.extra) // 10)
    eta: list[Eta] = []  # made at the first report, when the budget is known

    def progress(used: int, budget: int, best: float) -> None:
        eta[:] = eta or [Eta(budget)]
        if used % step == 0 or used == budget:
            left = eta[0].remaining(used)
            sys.stderr.write(f"{used}/{budget} evaluated, best {lookup.select} {best:.4g}"
                             + ("" if left is None else f", about {format_seconds(left)} left") + "\n")

    evaluator = run_method(args.method, config, lookup, args.budget, args.seed, progress=progress)
    history = pd.DataFrame(evaluator.history, columns=["arch", lookup.select, f"report_{lookup.report}"])
    if lookup.report == lookup.select:  # NAS-Bench-201 selects and reports by one metric
        history = history.drop(columns=f"report_{lookup.report}")
    else:
        history = history.rename(columns={f"report_{lookup.report}": lookup.report})
    history.insert(0, "step", np.arange(1, len(history) + 1))
    history[f"best_{lookup.select}"] = history[lookup.select].cummax()
    if args.out:
        write_table(history, Path(args.out))
    spec, selected, reported = evaluator.best()
    values = np.sort(lookup.table[lookup.report].to_numpy())
    percentile = 100.0 * np.searchsorted(values, reported, side="right") / len(values)
    print(f"{args.method} on {space.name}/{lookup.dataset}, N = {args.budget} + {args.extra}, seed {args.seed}: "
          f"{evaluator.used} architectures evaluated")
    print(f"picked (best {lookup.select}): {spec}")
    shown = f"{lookup.select} {selected:.4g}" + (f", {lookup.report} {reported:.4g}" if lookup.report != lookup.select
                                                 else "")
    print(f"  {shown} (percentile {percentile:.1f} of the space by {lookup.report}; best in space "
          f"{values[-1]:.4g})")
    if args.out:
        print(f"wrote the {len(history)} evaluations to {args.out}")
    return 0
