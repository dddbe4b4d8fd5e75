"""``python -m core lookup``: fill a table's metric columns from a benchmark's shipped results.

A table of architectures (``arch``, any other columns, e.g. ``loop propose --out`` with its empty metric
columns) gets every metric the benchmark measured for each row, as a real training run recorded it.
It is what a user evaluating proposals "by hand" on NAS-Bench-Graph or NAS-Bench-201 does, so a
``loop propose`` -> ``loop ingest`` round can be rehearsed end to end without training anything.
"""
from __future__ import annotations

import argparse

from core.errors import InputError

HELP = "fill a table's metric columns from a benchmark's shipped results (e.g. to rehearse loop ingest)"

#: rows named in one error line before "and N more"
SHOWN = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="a space with a shipped look-up table (nasbench-graph, "
                        "nasbench201)")
    parser.add_argument("--dataset", default=None, help="benchmark dataset (default: the space's first)")
    parser.add_argument("--table", required=True, help="architectures to look up (an arch column)")
    parser.add_argument("--out", required=True, help="table to write: its rows with every metric filled in")


def run(args: argparse.Namespace) -> int:
    from core.files.table_io import check_output_table, read_table, write_table
    from core.spaces import get_space

    check_output_table(args.out)
    space = get_space(args.space)
    if not space.has_lookup:
        raise InputError(f"space {args.space!r} ships no look-up table; its architectures must be measured")
    dataset = space.resolve_dataset(args.dataset)
    frame = read_table(args.table)
    if "arch" not in frame.columns:
        raise InputError(f"{args.table}: no column 'arch' (it has {list(frame.columns)[:10]})")
    metrics = space.metrics_table(dataset).set_index("arch")
    specs, problems = [], []
    for row, raw in enumerate(frame["arch"], start=1):
        try:
            spec = space.canonical(str(raw))
        except InputError as err:
            problems.append(f"row {row}: {err}")
            continue
        if spec not in metrics.index:
            problems.append(f"row {row}: {_short(spec)} is not in {space.name}/{dataset}")
        specs.append(spec)
    if problems:
        more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise InputError(f"{args.table}: " + "; ".join(problems[:SHOWN]) + more)
    found = metrics.loc[specs].reset_index(drop=True)
    out = frame.drop(columns=[c for c in found.columns if c in frame.columns]).reset_index(drop=True)
    out["arch"] = specs
    out = out.join(found)
    write_table(out, args.out)
    print(f"wrote {len(out)} architectures with {', '.join(found.columns)} from {space.name}/{dataset} to {args.out}")
    return 0


def _short(spec: str) -> str:
    return spec if len(spec) <= 80 else spec[:77] + "..."
