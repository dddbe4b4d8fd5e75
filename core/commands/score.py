"""``python -m core score``: per-hop module ranking tables of a trained run."""
from __future__ import annotations

import argparse
from pathlib import Path


HELP = "rank modules per hop by their standardised embedding-norm score"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory written by `train`")
    parser.add_argument("--table", default=None, help="architectures to score (default: the run's training table)")
    parser.add_argument("--out", default=None, help="ranking table to write (default: RUN/modules.parquet)")
    parser.add_argument("--show", type=int, default=5, help="modules printed per hop")


def run(args: argparse.Namespace) -> int:
    from core.runs.run import Run
    from core.scoring.modules import score_modules
    from core.campaign.names import refuse_inside_campaign  # a round's run: its default output too
    from core.files.table_io import check_output_table, write_table
    from core.tables.validated import load_table
    from core.targets.target import evaluate_target

    trained = Run.load(args.run)
    out = Path(args.out) if args.out else trained.path / "modules.parquet"
    out = check_output_table(refuse_inside_campaign(out))  # before scoring
    if args.table is None:
        frame = trained.table()
        graphs = [trained.space.to_graph(a) for a in frame["arch"]]
        targets = evaluate_target(frame, trained.target).values
    else:
        table = load_table(args.table, trained.space, metric_columns=[])
        graphs, targets = table.graphs, None
    scores = score_modules(trained, graphs, targets)
    write_table(scores.rankings, out)
    for hop in range(trained.hops + 1):
        top = scores.ranking(hop).head(args.show)
        print(f"hop {hop}: {len(scores.ranking(hop))} modules")
        for row in top.itertuples():
            print(f"  {row.mean_score:+.2f} ± {row.std_score:.2f}  n={row.count:<6d} {row.description}")
    print(f"wrote {len(scores.rankings)} module rows to {out}")
    return 0
