"""``python -m core compare``: saved runs side by side, and the modules two runs rank most differently."""
from __future__ import annotations

import argparse

HELP = "compare saved runs: held-out quality side by side, and the modules two runs disagree on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories written by `train`")
    parser.add_argument("--hop", type=int, default=None,
                        help="with exactly two runs of one space: list the hop-HOP modules they rank most "
                             "differently")
    parser.add_argument("--show", type=int, default=10, help="modules listed with --hop")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from core.errors import InputError
    from core.runs.comparison import runs_table
    from core.scoring.disagreement import module_disagreement

    table = runs_table(args.runs)
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
    if args.hop is None:
        return 0
    if len(args.runs) != 2:
        raise InputError(f"--hop compares exactly two runs; {len(args.runs)} were given")
    if args.show < 1:
        raise InputError(f"--show must be at least 1, got {args.show}")
    from core.runs.run import Run

    result = module_disagreement(Run.load(args.runs[0]), Run.load(args.runs[1]), args.hop)
    print(f"\nhop {args.hop}: {len(result.table)} shared modules, Spearman of the two rankings "
          f"{result.agreement:+.3f}; place 0 = best, 1 = worst")
    for row in result.table.head(args.show).itertuples():
        print(f"  {row.place_a:.2f} vs {row.place_b:.2f}  {row.description}")
    return 0
