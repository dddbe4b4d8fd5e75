"""``python -m core COMMAND ...``: the command-line face of AutoBuild Studio (docs/design.md, section 5).

Each command lives in ``core/commands/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Commands are found through :data:`COMMANDS`, a
lookup table of module names, and imported only when used so ``--help`` stays fast: the top-level
``--help`` reads each ``HELP`` from the module's source without importing it, and a command module
imports torch, PyG and the spaces inside ``run`` rather than at its top.

Bad input (:class:`~core.errors.InputError`, a missing file, an invalid option value) ends with one
line on stderr and exit code 2. Anything else is a bug, not the user's fault: its traceback goes to a
log file and stderr gets one line saying so and where the log is (exit code 1).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Sequence

from core.errors import InputError, message_line

#: command name -> module implementing it
COMMANDS: dict[str, str] = {
    "sample": "core.commands.sample",
    "train": "core.commands.train",
    "predict": "core.commands.predict",
    "score": "core.commands.score",
    "build": "core.commands.build",
    "benchmark": "core.commands.benchmark",
    "search": "core.commands.search",
    "loop": "core.commands.loop",
    "inpaint": "core.commands.inpaint",
    "fid": "core.commands.fid",
    "exhaustive": "core.commands.exhaustive",
    "compare": "core.commands.compare",
    "lookup": "core.commands.lookup",
    "runs": "core.commands.runs",
}

EXIT_INPUT_ERROR = 2
EXIT_INTERNAL_ERROR = 1


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (its default code too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message_line(message)} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_INPUT_ERROR)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="AutoBuild Studio: learn which modules make "
                     "architectures good and build better ones from them.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        if name != only:
            # Listed for --help without importing the module (its imports may be heavy).
            sub.add_parser(name, help=_help_line(module_name))
            continue
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def _help_line(module_name: str) -> str:
    """A command module's ``HELP`` string, read from its source without importing (or running) it."""
    try:
        spec = importlib.util.find_spec(module_name)
        with open(spec.origin, encoding="utf-8") as f:  # type: ignore[union-attr, arg-type]
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError, AttributeError, TypeError, ImportError):
        return ""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        _refuse_outputs_inside_campaigns(args)
        return int(args._run(args) or 0)
    except InputError as err:
        sys.stderr.write(f"error: {message_line(err)}\n")
        return EXIT_INPUT_ERROR
    except FileNotFoundError as err:
        sys.stderr.write(f"error: {message_line(f'file not found: {err.filename or err}')}\n")
        return EXIT_INPUT_ERROR
    except OSError as err:
        if err.filename is None:  # not about a path the user named: treat it as a fault of the program
            return _internal_error(args.command, err)
        sys.stderr.write(f"error: {message_line(f'{err.filename}: {err.strerror or err}')}\n")
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as err:  # a bug: keep its traceback, do not blame the input
        return _internal_error(args.command, err)


#: Options that name a file or folder a command writes (argparse dest -> the flag, for the message).
OUTPUT_OPTIONS = {"out": "--out", "csv": "--csv", "make_sample": "--make-sample"}


def _refuse_outputs_inside_campaigns(args: argparse.Namespace) -> None:
    """Every command's output path, checked before the command starts: none may be a campaign
    directory or lie inside one (only the campaign writes there; a table written over its table.csv
    would lose every evaluation). Commands that write a default file next to a run check that too."""
    from core.campaign.names import refuse_inside_campaign

    for dest, flag in OUTPUT_OPTIONS.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and value:
            refuse_inside_campaign(value, flag)


def _internal_error(command: str, err: BaseException) -> int:
    """Log ``err``'s traceback to a file and say so in one line; the exit code is not the input error's."""
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    log = Path(tempfile.gettempdir()) / f"autobuild-internal-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        log.write_text(f"python -m core {command}\n{text}")
        where = f"traceback in {log}"
    except OSError:
        sys.stderr.write(text)
        where = "traceback above"
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    sys.stderr.write(message_line(f"internal error (a bug, not a problem with your input): {type(err).__name__}"
                                  f"{': ' + first if first else ''}; {where}", limit=500) + "\n")
    return EXIT_INTERNAL_ERROR
