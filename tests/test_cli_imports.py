"""The CLI answers ``--help`` and usage errors without importing torch or PyG (issue: help took 13 s).

A correctness test, not a timed one: a fresh interpreter runs every command's ``--help``, then a bad
option, and reports which heavy modules got imported.
"""
import json
import subprocess
import sys
from pathlib import Path

from core.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torch_geometric")

RUNNER = """
import contextlib, io, json, sys
from core.cli import COMMANDS, main

found = {}
for command in COMMANDS:
    for argv in ([command, "--help"], [command, "--no-such-option"]):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                main(argv)
            except SystemExit:
                pass
        found[" ".join(argv)] = [m for m in HEAVY if m in sys.modules]
print(json.dumps(found))
"""


def test_every_command_help_and_usage_error_leave_torch_unimported():
    code = f"HEAVY = {HEAVY!r}\n" + RUNNER
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(found) == 2 * len(COMMANDS)
    imported = {argv: modules for argv, modules in found.items() if modules}
    assert imported == {}, f"these imported torch/PyG: {imported}"


def test_top_level_help_leaves_torch_unimported():
    code = ("import sys\nfrom core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_names_spelled_out_for_the_help_match_their_sources():
    # The help texts name these without importing the modules that define them.
    from core.benchmark_config import METHODS
    from core.diffusion.fid import CACHE_ENV
    from core.searchers import SEARCHERS

    assert METHODS == tuple(SEARCHERS)
    fid_help = subprocess.run([sys.executable, "-m", "core", "fid", "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120).stdout
    assert f"${CACHE_ENV}" in fid_help
