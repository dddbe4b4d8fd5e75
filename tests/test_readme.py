"""The README's command-line walkthrough runs as written, top to bottom, in an empty folder.

Each line of the ```bash block under "## The command line" runs in order (so every file a line uses must be
made by an earlier line), except the lines marked ``# needs ...`` (a GPU model, a cluster). The
``benchmark`` line runs in a quicker variant (fewer methods, a smaller budget, fewer epochs), checked to keep
the README's space and options. The README cannot drift from the commands again.

The first ``train`` line runs exactly as written, with the default ensemble, and everything the walkthrough
does with its run (predict, score, compare, build, exhaustive) reads that ensemble: the command line's
end-to-end path with the default stays covered. The later predictors (the second run, every campaign
round) train one member (``--members 1`` added): their lines are about comparing runs and the loop, which a
single predictor exercises just as well in half the time, and the default-ensemble campaign round is covered
by the Loop page's tests (tests/app/test_loop_page.py) and the browser test.
"""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.predictor.config import DEFAULT_MEMBERS

ROOT = Path(__file__).resolve().parents[1]
#: what the walkthrough's benchmark line becomes here: the same command in well under a minute
QUICK_BENCHMARK = ["--budgets", "20", "--seeds", "1", "--methods", "autobuild,random", "--epochs", "20"]
#: at most this many lines may be skipped as needing what a test machine lacks
MAX_SKIPPED = 3
#: added to every ``train`` line after the first and to every ``loop init`` line (see the module's docstring)
ONE_MEMBER = ["--members", "1"]


def walkthrough() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The command line"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "no ```bash block under '## The command line'"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def quick(line: str, first_train: bool) -> list[str]:
    """The line's argv as the test runs it: the benchmark line quicker, later predictors with one member
    (``first_train``: no ``train`` line has run yet)."""
    argv = shlex.split(line, comments=True)
    if (argv[3:4] == ["train"] and not first_train) or argv[3:5] == ["loop", "init"]:
        assert "--members" not in argv, f"the README now chooses the ensemble size itself: {line}"
        return argv + ONE_MEMBER
    if argv[:4] != ["python", "-m", "core", "benchmark"]:
        return argv
    # Drop the README's own budgets, seeds and methods; keep its space and anything else.
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--budgets", "--seeds", "--methods", "--epochs"):
            skip = True
        else:
            kept.append(arg)
    return kept + QUICK_BENCHMARK


def test_walkthrough_is_parsed_with_every_command_and_few_skips():
    lines = walkthrough()
    commands = {shlex.split(line, comments=True)[3] for line in lines}
    assert {"sample", "train", "predict", "score", "compare", "build", "exhaustive", "benchmark", "search",
            "loop", "lookup", "runs", "inpaint", "fid"} <= commands
    assert 0 < sum("# needs " in line for line in lines) <= MAX_SKIPPED


@pytest.mark.slow
def test_readme_command_line_walkthrough_runs_as_written(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    printed = {}
    first_train = True
    for line in walkthrough():
        if "# needs " in line:
            continue
        argv = quick(line, first_train)
        first_train = first_train and argv[3] != "train"
        assert argv[:3] == ["python", "-m", "core"], line
        out = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, f"README line failed: {line}\n{out.stderr[-2000:]}"
        printed[" ".join(argv[3:5])] = out.stdout
    # The hand-evaluated round closed with the looked-up metrics, and the quick benchmark reported.
    assert "appended 8 evaluated architectures; the round is complete" in printed["loop ingest"]
    assert "in 1 round(s) after the initial table" in printed["loop status"]
    assert "| N | method |" in printed["benchmark --space"]
    assert (tmp_path / "cora-2.zip").is_file() and not (tmp_path / "runs" / "cora-2").exists()
    # The first run is the default ensemble, as a user gets it, and its module scores are the members'.
    metrics = json.loads((tmp_path / "runs" / "cora" / "metrics.json").read_text())
    assert metrics["members"]["count"] == DEFAULT_MEMBERS > 1
    assert (pd.read_csv(tmp_path / "modules.csv")["members"] == DEFAULT_MEMBERS).all()
    assert json.loads((tmp_path / "camp" / "campaign.json").read_text())["members"] == 1
