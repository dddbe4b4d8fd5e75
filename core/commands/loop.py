"""``python -m core loop``: campaigns, the propose -> evaluate -> learn loop (core/campaign/campaign.py).

    loop init    --space S [--dataset D] --table T --target EXPR --out DIR [--method M] [--evaluator E]
    loop propose --campaign DIR --n N [--method M] [--out FILE]   the next round's proposals
    loop ingest  --campaign DIR --table RESULTS                   the user's measured results
    loop run     --campaign DIR --rounds R --n N [--executor local|ray] [--address ADDR]
    loop status  --campaign DIR                                    rounds, evaluated, best so far, the pick

Every step can be interrupted (Ctrl-C, kill -9) and repeated: a campaign loses and repeats nothing.
propose, ingest and run hold the campaign for the whole command: a second one on a campaign in use
says which process holds it and exits 2 at once, or waits for it with ``--wait``. No ``--out`` may lie
inside a campaign directory (only the campaign writes there).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from core.commands import arg_types, torch_threads
from core.errors import InputError
from core.eta import Eta
from core.predictor.config import DEFAULT_MEMBERS

HELP = "campaigns: propose architectures, evaluate them (here, on Ray, or yourself) and learn from them"

#: --evaluator choices; "auto" picks lookup with --dataset, fid with --model-dir, measure for spaces that build
#: networks, else external.
EVALUATOR_CHOICES = ("auto", "lookup", "measure", "fid", "external")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="loop_command", metavar="STEP", parser_class=type(parser))
    sub.required = True

    init = sub.add_parser("init", help="start a campaign from an evaluated table")
    init.add_argument("--space", required=True)
    init.add_argument("--dataset", default=None, help="benchmark dataset (evaluates by look-up in its table)")
    init.add_argument("--table", required=True, help="the evaluated architectures to start from")
    init.add_argument("--target", required=True, help="target expression to maximise, e.g. valid_perf")
    init.add_argument("--out", required=True, help="campaign directory to create")
    init.add_argument("--method", default=None, help="searcher that proposes (default: autobuild-guided)")
    init.add_argument("--evaluator", choices=EVALUATOR_CHOICES, default="auto")
    init.add_argument("--seed", type=arg_types.seed, default=0)
    init.add_argument("--epochs", type=int, default=200, help="predictor training epochs per round")
    init.add_argument("--members", type=int, default=DEFAULT_MEMBERS,
                      help=f"ensemble members of each round's predictor (default {DEFAULT_MEMBERS}; 1 for a single, "
                           "quicker predictor)")
    fid = init.add_argument_group("fid evaluator (sd-unet: inpaint, then FID; outputs go to OUT/inpainting)")
    fid.add_argument("--model-dir", default=None, help="local diffusers inpainting pipeline folder")
    fid.add_argument("--images", default=None, help="folder of images to inpaint")
    fid.add_argument("--masks", default=None, help="folder of masks, same file stems as the images")
    fid.add_argument("--reference", default=None, help="reference images for FID (default: the inputs)")
    fid.add_argument("--steps", type=int, default=50, help="denoising steps (default 50)")
    fid.add_argument("--size", type=int, default=None,
                     help="square working size, a multiple of 64 (default: the model's native size, 512 for SD v1.x)")

    propose = sub.add_parser("propose", help="retrain and propose the next round's architectures")
    _campaign_argument(propose)
    propose.add_argument("--n", type=int, required=True, help="architectures to propose")
    propose.add_argument("--method", default=None, help="searcher for this round (default: the campaign's)")
    propose.add_argument("--out", default=None, help="also write the proposals here (.csv, .parquet, .jsonl)")
    propose.add_argument("--drop-pending", action="store_true", help="abandon the open round's unevaluated proposals")
    _wait_argument(propose)
    torch_threads.add_argument(propose)

    ingest = sub.add_parser("ingest", help="append measured results of proposed architectures")
    _campaign_argument(ingest)
    ingest.add_argument("--table", required=True, help="results: arch plus every metric column of the campaign")
    ingest.add_argument("--allow-unproposed", action="store_true", help="accept architectures never proposed")
    _wait_argument(ingest)

    run = sub.add_parser("run", help="rounds of propose -> evaluate -> append with the campaign's evaluator")
    _campaign_argument(run)
    run.add_argument("--rounds", type=int, required=True)
    run.add_argument("--n", type=int, required=True, help="proposals per round")
    run.add_argument("--method", default=None)
    run.add_argument("--executor", choices=("local", "ray"), default="local")
    run.add_argument("--address", default=None, help="Ray cluster address ('auto', 'ray://host:10001'); "
                     "default: a local Ray instance")
    run.add_argument("--workers", type=int, default=1, help="local executor: evaluation processes")
    _wait_argument(run)
    torch_threads.add_argument(run)

    status = sub.add_parser("status", help="rounds, evaluated architectures, best so far and the pick")
    _campaign_argument(status)


def _campaign_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", required=True, help="campaign directory")


def _wait_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="if another process is using the campaign, wait for it (default: exit 2 at once)")


def _waiting(message: str) -> None:
    sys.stderr.write(message + "\n")


def run(args: argparse.Namespace) -> int:
    steps = {"init": _init, "propose": _propose, "ingest": _ingest, "run": _run, "status": _status}
    return steps[args.loop_command](args)


def _say(message: str, done: int, total: int) -> None:
    sys.stderr.write(f"{message}" + (f" [{done}/{total}]" if total > 1 else "") + "\n")


def _evaluator_for(args: argparse.Namespace, space, table):
    from core.evaluators import ExternalEvaluator, FIDEvaluator, LookupEvaluator, MeasureEvaluator
    from core.spaces.lookup_dataset import resolve_lookup_dataset

    metric_columns = table.metric_columns
    choice = args.evaluator
    if choice == "auto":
        choice = ("lookup" if args.dataset and space.has_lookup else "fid" if args.model_dir
                  else "measure" if space.can_measure else "external")
    if choice == "fid":
        missing = [flag for flag, value in (("--model-dir", args.model_dir), ("--images", args.images),
                                            ("--masks", args.masks)) if not value]
        if missing:
            raise InputError(f"the fid evaluator needs {', '.join(missing)}")
        return FIDEvaluator(args.model_dir, args.images, args.masks, out=str(Path(args.out) / "inpainting"),
                            reference=args.reference, steps=args.steps, size=args.size, seed=args.seed)
    if choice == "lookup":
        if not space.has_lookup:
            raise InputError(f"space {space.name!r} ships no look-up table; use --evaluator external")
        dataset = args.dataset
        if dataset is None:  # the table's own dataset, never the space's first one
            found = resolve_lookup_dataset(space, table.frame, table.metric_columns)
            if found.dataset is None:
                raise InputError(f"--evaluator lookup needs --dataset: {found.note}")
            sys.stderr.write(f"look-up dataset {found.note}\n")
            dataset = found.dataset
        return LookupEvaluator(space.name, dataset, list(metric_columns))
    if choice == "measure":
        return MeasureEvaluator(space.name)
    return ExternalEvaluator(space.name, list(metric_columns))


def _init(args: argparse.Namespace) -> int:
    from core.campaign.campaign import Campaign
    from core.campaign.names import refuse_inside_campaign
    from core.search.searchers import DEFAULT_METHOD
    from core.spaces import get_space
    from core.tables.validated import load_table

    refuse_inside_campaign(args.out)  # a campaign inside another's directory would be written over by it
    space = get_space(args.space)
    if args.dataset is not None:
        space.resolve_dataset(args.dataset)
    if Path(args.out).exists() and (not Path(args.out).is_dir() or any(Path(args.out).iterdir())):
        raise InputError(f"campaign directory {args.out} already exists; choose another --out")
    table = load_table(args.table, space)
    evaluator = _evaluator_for(args, space, table)
    campaign = Campaign.create(args.out, table, args.target, dataset=args.dataset, method=args.method or DEFAULT_METHOD,
                               evaluator=evaluator, seed=args.seed, epochs=args.epochs,
                               members=args.members)
    print(f"campaign {campaign.path}: {len(table)} architectures, target {args.target}, method "
          f"{campaign.config.method}, evaluated by {evaluator.describe()}")
    return 0


def _propose(args: argparse.Namespace) -> int:
    from core.campaign.campaign import Campaign
    from core.campaign.names import refuse_inside_campaign
    from core.files.table_io import check_output_table, write_table

    if args.out:  # refuse before training, not after; the campaign's own files are never an output
        refuse_inside_campaign(args.out)
        check_output_table(args.out)
    torch_threads.apply(args)
    campaign = Campaign.open(args.campaign)
    with campaign.session(wait=args.wait, waiting=_waiting):
        proposals = campaign.propose(args.n, args.method, drop_pending=args.drop_pending, progress=_say)
        r = campaign.open_round()
    written = campaign.round_dir(r) / "proposals.csv"
    if args.out:
        # With the metric columns `loop ingest` expects back, empty: the table to fill in.
        columns = [c for c in campaign.config.metric_columns if c not in proposals.columns]
        write_table(proposals.assign(**{c: float("nan") for c in columns}), args.out)
        written = Path(args.out)
    print(f"round {r}: {len(proposals)} proposals written to {written}")
    if not campaign.evaluator().automatic:
        print(f"evaluate them, fill in {', '.join(campaign.config.metric_columns)}"
              + (f" in {args.out}" if args.out else "") + f", then: python -m core loop ingest --campaign "
              f"{args.campaign} --table {args.out or 'RESULTS'}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from core.campaign.campaign import Campaign

    campaign = Campaign.open(args.campaign)
    with campaign.session(wait=args.wait, waiting=_waiting):
        appended = campaign.ingest(args.table, allow_unproposed=args.allow_unproposed)
        left = campaign.pending()
    print(f"appended {appended} evaluated architectures" + (f"; {len(left)} proposals still await results"
                                                            if left else "; the round is complete"))
    return 0


def _run(args: argparse.Namespace) -> int:
    from core.campaign.campaign import Campaign
    from core.evaluators.executors import make_executor

    if args.rounds < 1:
        raise InputError(f"--rounds must be positive, not {args.rounds}")
    torch_threads.apply(args)
    campaign = Campaign.open(args.campaign)
    with campaign.session(wait=args.wait, waiting=_waiting):  # before Ray starts: a busy campaign answers at once
        executor = make_executor(args.executor, args.address, args.workers)
        eta, done = Eta(args.rounds), 0
        try:  # one round at a time, to say after each how long the rest will take
            while done < args.rounds and campaign.run(1, args.n, executor, args.method, progress=_say):
                done += 1
                sys.stderr.write(f"rounds {eta.line(done)}\n")
        finally:
            executor.close()
    print(f"{done} round(s) completed")
    _print_status(campaign)
    return 0


def _status(args: argparse.Namespace) -> int:
    # Reads the directory only: CampaignDir, not Campaign, whose loop imports torch (seconds per call).
    from core.campaign.files import CampaignDir

    _print_status(CampaignDir.open(args.campaign))
    return 0


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _print_status(campaign) -> None:
    from core.campaign.files import TABLE_FILE
    from core.campaign.status import campaign_status

    status = campaign_status(campaign)
    config = status.config
    print(f"campaign   {campaign.path}")
    print(f"space      {config.space}" + (f" / {config.dataset}" if config.dataset else "")
          + f"   target {config.target}   method {config.method}   evaluator {campaign.evaluator().describe()}")
    print(f"evaluated  {status.evaluated} architectures in {status.completed_rounds} round(s) after the initial table")
    print("round  proposed  evaluated  failed  best of round  best so far  predicted-vs-measured Spearman (n)")
    for r in status.rounds:
        rho = "" if r.spearman is None else f"{r.spearman:.3f} ({r.spearman_n})"
        best = "" if math.isnan(r.best) else f"{r.best:.6g}"
        print(f"{r.round:5d}  {r.proposed:8d}  {r.evaluated:9d}  {r.failed:6d}  {best:>13}  {r.best_so_far:11.6g}  {rho}")
    print("           the Spearman is out of sample (each round's predictions, made before its proposals were "
          "evaluated);\n           it is range-restricted (all proposals were predicted good), so it can fall in later "
          "rounds as they crowd the top of the space")
    if status.pending:
        print(f"pending    round {status.open_round}: {len(status.pending)} proposal(s) await results")
    for spec, reason in list(status.failed.items())[:10]:
        print(f"failed     {_cut(spec, 60)}: {_cut(reason, 160)}")
    if len(status.failed) > 10:
        print(f"           and {len(status.failed) - 10} more failed")
    for row, reason in status.bad_rows.items():
        print(f"bad row    {TABLE_FILE} row {row}: {_cut(reason, 200)} (left out of training, proposing and the pick)")
    metrics = ", ".join(f"{campaign.space.metric_label(c)} {status.pick[c]:.6g}" for c in config.metric_columns)
    print(f"pick       {status.pick['arch']}")
    print(f"           target {status.pick['target']:.6g} ({metrics}; round {status.pick['round']}, "
          f"{status.pick['source']})")
