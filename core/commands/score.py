"""``python -m core score``: per-hop module ranking tables of a trained run."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.commands import arg_types

HELP = "rank modules per hop by their estimated mean target over the space, with their embedding-norm score"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory written by `train`")
    parser.add_argument("--table", default=None, help="architectures to score (default: the run's training table)")
    parser.add_argument("--out", default=None, help="ranking table to write (default: RUN/modules.parquet)")
    parser.add_argument("--show", type=int, default=5, help="modules printed per hop")
    parser.add_argument("--pool", type=arg_types.non_negative_int, default=None,
                        help="architectures of the space for the ranking's estimate (default: the whole space up to "
                             "50,000, else 8,192 sampled; 0: the scored table alone)")
    parser.add_argument("--resamples", type=arg_types.non_negative_int, default=0,
                        help="refit the predictor on this many random halves of the run's table and count, per "
                             "module, the refits that place it in its hop's top 10 (column resample_top10; "
                             "stability selection; about 10 s a refit for 300 rows; 0: off)")


def run(args: argparse.Namespace) -> int:
    import sys

    import pandas as pd

    from core.campaign.names import refuse_inside_campaign
    from core.errors import InputError
    from core.files.table_io import check_output_table, write_table
    from core.runs.run import Run
    from core.scoring.modules import ORDER_RULE, score_modules
    from core.scoring.resample_stability import ResampleConfig, resample_top_counts
    from core.scoring.space_estimate import dataset_architectures, draw_pool
    from core.targets.target import evaluate_target

    trained = Run.load(args.run)
    if args.resamples and args.table is not None:
        raise InputError("--resamples refits the predictor on halves of the run's own table: drop --table")
    if args.resamples:
        try:  # validated before any scoring
            ResampleConfig(resamples=args.resamples)
        except ValueError as err:
            raise InputError(f"--resamples {args.resamples}: {err}") from None
    out = Path(args.out) if args.out else trained.path / "modules.parquet"
    # Before scoring; a campaign round's run refuses its default output too.
    out = check_output_table(refuse_inside_campaign(out))
    if args.table is None:
        frame = trained.table()
        graphs = [trained.space.to_graph(a) for a in frame["arch"]]
    else:
        frame, graphs = _scored_table(args.table, trained)
    targets = None
    if set(trained.config.target_columns) <= set(frame.columns):
        try:
            values = evaluate_target(frame, trained.target)
            targets = values.values  # NaN where a row's target is not finite: those rows add no mean target
        except InputError as err:
            print(f"note: no mean_target column ({err})")
    elif args.table is not None:
        missing = sorted(set(trained.config.target_columns) - set(frame.columns))
        print(f"note: no mean_target column: {args.table} has no usable target column(s) {missing}")
    pool = draw_pool(trained, frame["arch"].astype(str), args.pool)
    scores = score_modules(trained, graphs, targets, pool)
    rankings = scores.rankings
    if args.resamples:
        rows = pd.MultiIndex.from_frame(rankings[["hop", "signature"]])
        counts = resample_top_counts(trained, graphs, targets, rows, pool, ResampleConfig(resamples=args.resamples),
                                     progress=lambda done, total: print(f"refit {done}/{total}", file=sys.stderr))
        rankings = rankings.assign(resample_top10=counts.to_numpy())
    write_table(rankings, out)
    print(f"order: {ORDER_RULE}" + ("" if targets is not None else " (no targets: the model's estimate alone)"))
    part = f" ({trained.dataset} evaluates {len(within):,})" if (within := dataset_architectures(trained)) else ""
    print(f"estimate over {len(graphs):,} scored + {len(pool):,} other architectures of the space{part}")
    if args.resamples:
        print(f"refits: the predictor refit on {args.resamples} random halves of the table; resample_top10 counts "
              "the refits that place a module in its hop's top 10 (the table's part of the ranking's instability; "
              "the members' top10 is the training's)")
    for hop in range(trained.hops + 1):
        top = rankings[rankings["hop"] == hop].head(args.show)
        trust = scores.reliability.iloc[hop]
        print(f"hop {hop}: {len(scores.ranking(hop))} modules, score {trust.badge} ({_trust(trust)})")
        for row in top.itertuples():
            target = "" if row.mean_target != row.mean_target else f" target {row.mean_target:.4g}"
            print(f"  #{row.rank:<3d} estimate {row.estimate:.4g} ± {row.estimate_se:.2g}  score {row.mean_score:+.2f} "
                  f"[{row.member_low:+.2f}, {row.member_high:+.2f}]  n={row.architectures} (pool {row.pool_architectures}){target}  "
                  f"top10 in {row.members_top10}/{row.members}"
                  + (f", in {row.resample_top10}/{args.resamples} refits" if args.resamples else "")
                  + f"  {row.description}")
    unreliable = scores.reliability.loc[~scores.reliability["reliable"], "hop"].tolist()
    if unreliable:
        print(f"hops {unreliable}: weak or collapsed embedding-norm scores; read each module's estimate interval and "
              "mean_target there")
    print(f"wrote {len(rankings)} module rows to {out}")
    return 0


def _scored_table(path: str, trained):
    """(frame, graphs) of ``path`` in the run's space, with the target's columns when ``path`` has them all
    as valid numbers (for ``mean_target``), else with its architectures only (and a note why)."""
    from core.errors import TableError
    from core.files.table_io import read_table
    from core.tables.validated import validate_table

    raw = read_table(path)
    columns = list(trained.config.target_columns)
    wanted = columns if set(columns) <= set(raw.columns) else []
    try:
        table = validate_table(raw, trained.space, source=path, metric_columns=wanted, base_dir=Path(path).parent)
    except TableError as err:
        if not wanted:
            raise
        print(f"note: no mean_target column: the target's columns of {path} are not all valid numbers "
              f"({str(err)[:200]})")
        table = validate_table(raw, trained.space, source=path, metric_columns=[], base_dir=Path(path).parent)
    return table.frame, table.graphs


def _trust(row) -> str:
    parts = []
    if row.heldout_norm_spearman == row.heldout_norm_spearman:
        parts.append(f"held-out norm Spearman {row.heldout_norm_spearman:.2f}")
    if row.member_agreement == row.member_agreement:
        parts.append(f"members' top-10 agreement {row.member_agreement:.0%}")
    if row.collapsed:
        parts.append("every member collapsed here")
    return ", ".join(parts) or "no held-out figures"
