"""``python -m core runs``: take a run or a campaign home as a zip, or delete one.

    runs zip PATH [--out FILE.zip]     every file of the directory, under its name
    runs delete PATH [--yes]           asks first (or --yes); only a run or a campaign directory

Only directories the product made are deleted: a run (config.json with a run format and model.pt) or a
campaign (campaign.json and table.csv, and not in use); anything else is refused in one line.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import InputError

HELP = "zip a run or campaign directory to take home, or delete one (asks first)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="runs_command", metavar="STEP", parser_class=type(parser))
    sub.required = True
    zip_ = sub.add_parser("zip", help="write a run or campaign directory as one .zip file")
    zip_.add_argument("path", metavar="PATH", help="run or campaign directory")
    zip_.add_argument("--out", default=None, help="zip file to write (default: PATH.zip)")
    delete = sub.add_parser("delete", help="delete a run or campaign directory")
    delete.add_argument("path", metavar="PATH", help="run or campaign directory")
    delete.add_argument("--yes", action="store_true", help="do not ask (scripts)")


def run(args: argparse.Namespace) -> int:
    return {"zip": _zip, "delete": _delete}[args.runs_command](args)


def kind_of(path: Path) -> str:
    """'run' or 'campaign' by the files the product writes; a one-line InputError for anything else."""
    if not path.is_dir():
        raise InputError(f"{path} is not a directory")
    if (path / "campaign.json").is_file():
        return "campaign"
    if (path / "config.json").is_file() and (path / "model.pt").is_file():
        return "run"
    raise InputError(f"{path} is neither a run (config.json, model.pt) nor a campaign (campaign.json) directory")


def _zip(args: argparse.Namespace) -> int:
    from core.files.directories import zip_directory

    path = Path(args.path)
    kind = kind_of(path)
    out = Path(args.out) if args.out else path.with_name(path.name + ".zip")
    if out.suffix != ".zip":
        raise InputError(f"--out {out}: the file name must end in .zip")
    data = zip_directory(path)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_bytes(data)
    partial.replace(out)  # never a half-written zip under the real name
    print(f"wrote {kind} {path} to {out} ({len(data) / 1024:.0f} KiB)")
    return 0


def _delete(args: argparse.Namespace) -> int:
    path = Path(args.path)
    kind = kind_of(path)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError(f"delete {kind} {path}: add --yes to confirm when not run interactively")
        answer = input(f"delete {kind} {path} and every file in it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept")
            return 0
    if kind == "campaign":
        from core.campaign.removal import delete_campaign

        delete_campaign(path)
    else:
        from core.runs.run import delete_run

        delete_run(path)
    print(f"deleted {kind} {path}")
    return 0
