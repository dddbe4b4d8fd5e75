"""``python -m core predict``: predicted target and hop-embedding norms for every row of a table."""
from __future__ import annotations

import argparse

HELP = "predict the target of every architecture in a table with a trained run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory written by `train`")
    parser.add_argument("--table", required=True, help="table with an arch column (metrics optional)")
    parser.add_argument("--out", required=True, help="output table: arch, predicted, norm_hop0..norm_hopL")


def run(args: argparse.Namespace) -> int:
    from core.files.table_io import check_output_table, write_table
    from core.runs.run import Run
    from core.tables.validated import load_table
    from core.workflow import predict_table

    check_output_table(args.out)
    trained = Run.load(args.run)
    table = load_table(args.table, trained.space, metric_columns=[])
    out = predict_table(trained, table)
    write_table(out, args.out)
    print(f"wrote {len(out)} predictions of {trained.target!r} to {args.out}")
    return 0
