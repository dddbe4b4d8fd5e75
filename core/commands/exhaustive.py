"""``python -m core exhaustive``: the regression head's top N over a whole enumerable space.

The usual predictor-based baseline next to AutoBuild's built architectures (the paper's "Exhaustive
Search (4)" on SD v1.4): every architecture of the run's space is scored by the trained head in
batches, the running top N is kept, and architectures of the training table are left out by default
(they are already evaluated). Works for every space that can be enumerated: nasbench201 (15,625),
nasbench-graph (26,206), sd-unet (884,736).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "score every architecture of the run's space with the regression head and keep the top N"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory written by `train`")
    parser.add_argument("--top", type=int, default=4, help="number of architectures to return (N, default 4)")
    parser.add_argument("--include-evaluated", action="store_true",
                        help="also return architectures of the training table (left out by default)")
    parser.add_argument("--batch-size", type=int, default=8192, help="architectures per predictor call")
    parser.add_argument("--out", default=None, help="output table (default: RUN/exhaustive.csv)")


def run(args: argparse.Namespace) -> int:
    from core.building.head_top import head_top
    from core.campaign.names import refuse_inside_campaign  # a round's run: its default output too
    from core.files.table_io import check_output_table, write_table
    from core.runs.run import Run

    trained = Run.load(args.run)
    out = Path(args.out) if args.out else trained.path / "exhaustive.csv"
    out = check_output_table(refuse_inside_campaign(out))  # before scoring
    total = trained.space.size() if trained.space.enumerable else 0
    tenth = {"last": 0}

    def progress(done: int, _total: int | None) -> None:
        if total and 10 * done // total > tenth["last"]:  # about every tenth of the space
            tenth["last"] = 10 * done // total
            sys.stderr.write(f"scored {done:,}/{total:,}\n")

    top = head_top(trained, args.top, include_evaluated=args.include_evaluated,
                   batch_size=args.batch_size, progress=progress)
    write_table(top, out)
    print(f"scored {top.attrs['scored']:,} architectures of {trained.space.name} in {top.attrs['seconds']:.1f} s "
          f"(target {trained.target}; {top.attrs['excluded']:,} evaluated ones left out)")
    print(top.to_string(index=False, max_colwidth=200))
    print(f"wrote the top {len(top)} to {out}")
    return 0
