"""The CLI answers ``--help`` and usage errors without importing torch or PyG (issue: help took 13 s).

A correctness test, not a timed one: a fresh interpreter runs every command's ``--help``, then a bad
option, and reports which heavy modules got imported.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import COMMANDS

pytestmark = pytest.mark.slow  # the whole module: subprocesses

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_names_spelled_out_for_the_help_match_their_sources():
    # The help texts name these without importing the modules that define them.
    from core.diffusion.fid import CACHE_ENV
    from core.search.benchmark_config import METHODS
    from core.search.searchers import SEARCHERS

    assert METHODS == tuple(SEARCHERS)
    fid_help = subprocess.run([sys.executable, "-m", "core", "fid", "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120).stdout
    assert f"${CACHE_ENV}" in fid_help


# Argument and validation errors that need a space (its name, its datasets, its look-up table) are
# answered from the space registry's name table and the space's own module, still without torch.
VALIDATION_ERRORS = {
    "sample --space nosuch --n 3 --out x.csv": "unknown space 'nosuch'",
    "sample --space nasbench201 --n -3 --out x.csv": "--n must be positive",
    "sample --space nasbench-graph --dataset nosuch --n 3 --out x.csv": "unknown dataset 'nosuch'",
    "sample --space ofa-mbv3 --n 0 --out x.csv": "--n must be positive",
    "search --space nosuch": "unknown space 'nosuch'",
    "search --space nasbench201 --dataset nosuch": "unknown dataset 'nosuch'",
    "search --space ofa-pn": "ships no look-up table",
    "benchmark --space nosuch": "unknown space 'nosuch'",
    "benchmark --space nasbench-graph --dataset nosuch": "unknown dataset 'nosuch'",
    "train --space nosuch --table t.csv --target y --out r": "unknown space 'nosuch'",
    "train --space nasbench201 --table t.csv --target y --out r --epochs 0": "epochs must be a positive",
}

VALIDATION_RUNNER = """
import contextlib, io, json, sys
from core.cli import main


argv = sys.argv[1].split()
err = io.StringIO()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "stderr": err.getvalue(), "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


@pytest.mark.slow
def test_space_argument_errors_leave_torch_unimported(tmp_path):
    code = f"HEAVY = {HEAVY!r}\n" + VALIDATION_RUNNER
    for argv, message in VALIDATION_ERRORS.items():
        out = subprocess.run([sys.executable, "-c", code, argv], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert out.returncode == 0, out.stderr
        found = json.loads(out.stdout.strip().splitlines()[-1])
        assert found["code"] == 2 and message in found["stderr"], (argv, found)
        assert found["heavy"] == [], f"{argv} imported {found['heavy']}"
    assert list(tmp_path.iterdir()) == []  # no half-written output


def test_space_name_table_matches_the_modules_registrations():
    import importlib
    import pkgutil

    import core.spaces as spaces

    for info in pkgutil.iter_modules(spaces.__path__):
        importlib.import_module(f"core.spaces.{info.name}")
    shipped = {name: cls for name, cls in spaces._REGISTRY.items() if cls.__module__.startswith("core.spaces.")}
    assert {name: cls.__module__ for name, cls in shipped.items()} == spaces.SPACE_MODULES


NO_MODEL_RUNNER = """
import contextlib, io, json, sys
from core.cli import main

codes = []
for argv in sys.argv[1:]:
    with contextlib.redirect_stdout(io.StringIO()):
        codes.append(main(argv.split()))
print(json.dumps({"codes": codes, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def test_commands_that_need_no_model_leave_torch_and_scipy_stats_unimported(tmp_path):
    # `loop status` took 5-15 s as a whole process: reading a campaign imported the searchers' torch.
    import pandas as pd

    from core.spaces import get_space

    table = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"
    known = set(pd.read_csv(table)["arch"])
    new = [s for s in get_space("nasbench-graph").metrics_table("cora")["arch"] if s not in known][:2]
    results = get_space("nasbench-graph").metrics_table("cora").set_index("arch").loc[new].reset_index()
    results.to_csv(tmp_path / "results.csv", index=False)
    argv = [f"loop init --space nasbench-graph --dataset cora --table {table} --target valid_perf --out camp",
            "loop status --campaign camp",
            "loop ingest --campaign camp --table results.csv --allow-unproposed",
            "loop status --campaign camp",
            "sample --space nasbench201 --n 5 --out s.csv"]
    code = f"HEAVY = {HEAVY + ('scipy.stats',)!r}\n" + NO_MODEL_RUNNER
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"codes": [0] * len(argv), "heavy": []}
