"""``python -m core build``: build architectures from the best modules of a trained run."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.building.config import CELL_SCORES, MODULE_ORDERS, UNIT_HOPS, BuildConfig
from core.building.constraints import parse_constraints
from core.errors import InputError

HELP = "build the top-N architectures from the best modules (prints the reduced search space size)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory written by `train`")
    parser.add_argument("--top", type=int, required=True, help="number of architectures to build (N)")
    parser.add_argument("--k", type=int, default=BuildConfig.k, help="candidates kept per unit or position")
    parser.add_argument("--cell-score", choices=CELL_SCORES, default=BuildConfig.cell_score,
                        help="module build only: score cells by the sink node (the paper's readout) or by the "
                             "graph embedding's hop-L norm")
    parser.add_argument("--module-order", choices=MODULE_ORDERS, default=BuildConfig.module_order,
                        help="module build only: keep each position's ops by their estimated mean target over the "
                             "space (the order `score` and the Modules page show; default) or by their mean cell "
                             "score (the paper's norm readout)")
    parser.add_argument("--unit-hop", choices=UNIT_HOPS, default=BuildConfig.unit_hop,
                        help="unit build only: read every candidate of a unit at the unit's deepest hop (default), "
                             "or each at its own depth - 1 (the paper's readout)")
    parser.add_argument("--where", action="append", default=[], metavar="CONSTRAINT",
                        help="build only architectures whose metric satisfies it, e.g. 'latency <= 0.004' "
                             "(repeatable, or comma-separated; looked up in the space's table, or measured on this "
                             "machine for OFA spaces: latency_ms, cpu_ms, params_m, flops_m)")
    parser.add_argument("--out", default=None, help="output table (default: RUN/built.csv)")


def run(args: argparse.Namespace) -> int:
    try:
        config = BuildConfig(top=args.top, k=args.k, cell_score=args.cell_score, module_order=args.module_order,
                             unit_hop=args.unit_hop, constraints=parse_constraints(args.where))
    except ValueError as err:
        raise InputError(str(err)) from None
    from core.building.builder import build_architectures
    from core.building.lookup import no_true_metrics_reason
    from core.campaign.names import refuse_inside_campaign  # a round's run: its default output too
    from core.files.table_io import check_output_table, write_table
    from core.runs.run import Run

    trained = Run.load(args.run)
    out = Path(args.out) if args.out else trained.path / "built.csv"
    out = check_output_table(refuse_inside_campaign(out))  # before the build
    result = build_architectures(trained, config)
    write_table(result.built, out)
    print(f"method {result.method}: {result.notes}")
    reason = no_true_metrics_reason(trained)
    if trained.space.has_lookup:
        print(f"true metrics: {trained.config.dataset_note or trained.dataset}" if not reason
              else f"no true metrics: {reason}")
    print(f"reduced search space: {result.reduced_space_size:,} architectures")
    # Headers with units (`true_latency (s)`) on screen; the written table keeps the plain column names.
    print(result.built.rename(columns=trained.space.metric_label).to_string(index=False, max_colwidth=200))
    print(f"wrote {len(result.built)} built architectures to {out}")
    return 0
