"""``python -m core sample``: a table of N distinct random architectures with the shipped metrics."""
from __future__ import annotations

import argparse

import numpy as np

from core.errors import InputError
from core.spaces import get_space
from core.tables import write_table

HELP = "write a table of N distinct random architectures of a benchmark space with its shipped metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="search space name, e.g. nasbench-graph, nasbench201")
    parser.add_argument("--dataset", default=None, help="benchmark dataset (default: the space's first)")
    parser.add_argument("--n", type=int, required=True, help="number of distinct architectures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output table (.csv, .parquet or .jsonl)")


def run(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    if args.n < 1:
        raise InputError(f"--n must be positive, not {args.n}")
    dataset = space.resolve_dataset(args.dataset)
    table = space.metrics_table(dataset)
    if args.n > len(table):
        raise InputError(f"--n {args.n} is more than the {len(table)} architectures of {args.space}/{dataset}")
    rows = np.random.default_rng(args.seed).choice(len(table), size=args.n, replace=False)
    sample = table.iloc[np.sort(rows)].reset_index(drop=True)
    write_table(sample, args.out)
    print(f"wrote {len(sample)} architectures of {args.space}/{dataset} (seed {args.seed}) to {args.out}")
    return 0
