"""``python -m core benchmark``: AutoBuild vs random search, evolution and a predictor baseline."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.commands import arg_types, torch_threads
from core.errors import InputError
from core.search.benchmark_config import METHODS, BenchmarkConfig

HELP = "head-to-head report at equal numbers of evaluated architectures (mean ± std over seeds)"


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="a space with a shipped look-up table")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--budgets", type=_ints, default=(50, 100, 200), help="N values, e.g. 50,100,200")
    parser.add_argument("--seeds", type=arg_types.positive_int, default=10, help="number of seeds (0..S-1)")
    parser.add_argument("--extra", type=int, default=4, help="evaluations after the N labelled (built ones)")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    parser.add_argument("--rounds", type=int, default=BenchmarkConfig.rounds,
                        help="train-build-evaluate rounds of autobuild-rounds")
    torch_threads.add_argument(parser)
    parser.add_argument("--out", default=None, help="write the Markdown report here too")
    parser.add_argument("--csv", default=None, help="write every trial as CSV here")


def run(args: argparse.Namespace) -> int:
    from core.spaces import get_space

    space = get_space(args.space)
    if not space.has_lookup:
        raise InputError(f"space {args.space!r} ships no look-up table to benchmark on")
    if args.dataset is not None:
        space.resolve_dataset(args.dataset)
    try:
        config = BenchmarkConfig(space=args.space, dataset=args.dataset, budgets=args.budgets,
                                 seeds=tuple(range(args.seeds)), extra=args.extra, k=args.k, epochs=args.epochs,
                                 rounds=args.rounds,
                                 methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()))
    except ValueError as err:
        raise InputError(str(err)) from None
    from core.search.benchmark import (  # torch and PyG: only once the arguments hold
        markdown_report,
        run_benchmark,
    )

    torch_threads.apply(args)
    result = run_benchmark(config, progress=lambda line: print(line, file=sys.stderr))
    report = markdown_report(result)
    if args.out:
        Path(args.out).write_text(report)
    if args.csv:
        result.frame().to_csv(args.csv, index=False)
    print(report)
    return 0
