"""Files in shared folders that another user (or a crash) damaged: one bad run or campaign never breaks a
listing, a page or a command for anyone; every read is bounded; every message is one short line; CSVs
for people cannot run as spreadsheet formulas; what killed processes leave behind is swept.

The runs are real (one-epoch nasbench-graph runs on the shipped cora sample); the damaged inputs are
the ones the probe used: strings where numbers belong, a table that is a symlink to /dev/zero or a
sparse 2 GB file, 20 MB column names, 120,000-character option values.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from core.cli import EXIT_INPUT_ERROR, main
from core.errors import (
    MAX_MESSAGE_CHARS,
    InputError,
    message_line,
    shorten,
    shorten_list,
)
from core.files.table_io import csv_text, read_table, write_table
from core.runs.listing import list_runs
from core.runs.loading import check_run, load_run_metrics
from core.runs.run import Run, sweep_run_folder

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

ROOT = Path(__file__).resolve().parents[1]
CORA = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"
TRAIN = ["train", "--space", "nasbench-graph", "--target", "valid_perf", "--epochs", "1", "--min-steps", "0",
         "--width", "8", "--layers", "2", "--quiet"]
#: The most memory one bad input may cost (the issue's bar is 1.5 GB; the caps keep it far lower).
MAX_RSS_GROWTH = 1.5 * 1024**3


def run_cli(argv, capsys) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def one_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning")]
    assert code == EXIT_INPUT_ERROR, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err[:2000]
    assert len(lines[0]) < 500, len(lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    """A shared runs folder holding one real run, ``good``."""
    root = tmp_path_factory.mktemp("shared") / "runs"
    assert main(TRAIN + ["--table", str(CORA), "--out", str(root / "good")]) == 0
    return root


def damaged_copy(runs_root: Path, name: str, damage) -> Path:
    path = runs_root / name
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(runs_root / "good", path, symlinks=True)
    damage(path)
    return path


def strings_for_numbers(path: Path) -> None:
    metrics = json.loads((path / "metrics.json").read_text())
    metrics["heldout"]["spearman"] = "0.9"
    metrics["train_seconds"] = "fast"
    (path / "metrics.json").write_text(json.dumps(metrics))


def table_is_dev_zero(path: Path) -> None:
    (path / "table.csv").unlink()
    os.symlink("/dev/zero", path / "table.csv")


def table_is_2gb(path: Path) -> None:
    with open(path / "table.csv", "r+b") as handle:  # sparse: 2 GB long, no disk used
        handle.truncate(2 * 1024**3)


def huge_numbers(path: Path) -> None:
    metrics = json.loads((path / "metrics.json").read_text())
    metrics["epochs_run"] = 10**400
    metrics["heldout"]["hop_norm_spearman"] = [1e308 * 10] * 3
    (path / "metrics.json").write_text(json.dumps(metrics))


DAMAGES = {"strings": strings_for_numbers, "zero": table_is_dev_zero, "big": table_is_2gb, "huge": huge_numbers}


def test_a_damaged_run_is_listed_as_damaged_and_never_offered(runs_root):
    for name, damage in DAMAGES.items():
        damaged_copy(runs_root, name, damage)
    (runs_root / "claimed").mkdir(exist_ok=True)  # a training in progress: not a run, not damaged
    usable = list_runs(runs_root)
    assert [r.name for r in usable] == ["good"]
    assert isinstance(usable[0].spearman, float)
    listed = {r.name: r.damaged for r in list_runs(runs_root, damaged=True)}
    assert listed["good"] == "" and "claimed" not in listed
    assert "metrics.json" in listed["strings"] and "heldout.spearman" in listed["strings"]
    assert "table.csv" in listed["zero"] and "not a regular file" in listed["zero"]
    assert "table.csv" in listed["big"] and "2.0 GiB" in listed["big"]
    assert "metrics.json" in listed["huge"]
    assert all(len(why) <= MAX_MESSAGE_CHARS and "\n" not in why for why in listed.values())


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_score_and_compare_refuse_a_damaged_run_in_one_line_naming_the_file(runs_root, tmp_path, capsys, damage):
    path = damaged_copy(runs_root, f"cli-{damage}", DAMAGES[damage])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    line = one_line(*run_cli(["score", "--run", path, "--out", tmp_path / "m.csv"], capsys))
    assert str(path) in line and ("metrics.json" in line or "table.csv" in line)
    line = one_line(*run_cli(["compare", runs_root / "good", path], capsys))
    assert str(path) in line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before < MAX_RSS_GROWTH
    assert not (tmp_path / "m.csv").exists()


def test_run_metrics_schema_keeps_real_metrics_and_refuses_wrong_shapes(runs_root, tmp_path):
    good = load_run_metrics(runs_root / "good")
    assert isinstance(good["heldout"]["spearman"], float) and good["history"]
    check_run(runs_root / "good")
    for bad in ([], {"heldout": []}, {"history": [1, 2]}, {"heldout": {"rows": -1}}, {"restored_best": "yes"},
                {"train_seconds": float("inf")}, {"heldout": {"hop_norm_spearman": ["x"]}}):
        path = damaged_copy(runs_root, "shape", lambda p: (p / "metrics.json").write_text(json.dumps(bad)))
        with pytest.raises(InputError, match="metrics.json"):
            Run.load(path)


def test_campaign_files_are_read_bounded(tmp_path, capsys):
    out = tmp_path / "camp"
    assert main(["loop", "init", "--space", "nasbench-graph", "--table", str(CORA), "--target", "valid_perf",
                 "--out", str(out), "--evaluator", "external"]) == 0
    assert main(["loop", "status", "--campaign", str(out)]) == 0
    capsys.readouterr()
    table = out / "table.csv"
    saved = table.read_bytes()
    with open(table, "r+b") as handle:
        handle.truncate(2 * 1024**3)
    line = one_line(*run_cli(["loop", "status", "--campaign", out], capsys))
    assert "table.csv" in line and "limit" in line
    table.unlink()
    os.symlink("/dev/zero", table)
    line = one_line(*run_cli(["loop", "status", "--campaign", out], capsys))
    assert "table.csv" in line  # not a file: not a campaign directory, and nothing read
    table.unlink()
    table.write_bytes(saved.replace(b"valid_perf", b"other", 1))
    line = one_line(*run_cli(["loop", "status", "--campaign", out], capsys))
    assert "table.csv" in line and "valid_perf" in line


def test_long_values_are_cut_and_every_message_is_one_short_line(tmp_path, capsys):
    huge = "c" * (20 * 1024**2)
    table = tmp_path / "wide.csv"
    pd.DataFrame({"arch": [json.dumps({"links": [0, 1, 2, 1], "ops": ["gcn"] * 4})], huge: [1.0]}).to_csv(
        table, index=False)
    line = one_line(*run_cli(["train", "--space", "nasbench-graph", "--table", table, "--target", "acc",
                              "--out", tmp_path / "r", "--epochs", "1"], capsys))
    assert "characters" in line
    line = one_line(*run_cli(["sample", "--space", "nasbench-graph", "--dataset", "d" * 120_000, "--n", "5",
                              "--out", tmp_path / "s.csv"], capsys))
    assert "120,000 characters" in line
    assert len(message_line("x\n" * 100_000)) <= MAX_MESSAGE_CHARS
    assert "\n" not in str(InputError("a\nb")) and len(str(InputError("y" * 10**6))) <= MAX_MESSAGE_CHARS
    assert shorten("z" * 1000).endswith("(1,000 characters)") and "(92 more)" in shorten_list(range(100))


def test_csv_for_people_neutralises_formulas_and_round_trips(tmp_path):
    cells = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-cmd", "@SUM(A1)", "\tTAB", "'=quoted", "plain", "''@two"]
    frame = pd.DataFrame({"arch": cells, "=cmd": range(len(cells)), "acc": [-0.5] * len(cells)})
    path = write_table(frame, tmp_path / "out.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert not any(str(c)[:1] in "=+-@\t" for c in [*raw.columns, *raw["arch"]])  # what a spreadsheet opens
    assert raw["acc"].tolist() == ["-0.5"] * len(cells)  # numbers stay numbers
    pd.testing.assert_frame_equal(read_table(path), frame)  # reading it back undoes the quotes exactly
    for exact in ("out.parquet", "out.jsonl"):
        pd.testing.assert_frame_equal(read_table(write_table(frame, tmp_path / exact)), frame)
        assert read_table(tmp_path / exact)["arch"].tolist() == cells
    text = csv_text(frame)
    assert "\n=" not in text and "\n+" not in text and not text.startswith("=")


def test_startup_sweep_frees_old_empty_claims_and_keeps_everything_else(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    old_claim, new_claim, folder, staged = root / "killed", root / "training-now", root / "someones", root / "live"
    for path in (old_claim, new_claim, folder, staged):
        path.mkdir()
    (folder / "notes.txt").write_text("keep")
    dead_partial = root / ".killed.partial-999999999-abcd1234"  # no such process
    live_partial = root / ".live.partial-1-abcd1234"  # process 1 runs: a save in progress
    dead_partial.mkdir()
    live_partial.mkdir()
    started = time.time() - 60
    past = started - 3600
    for path in (old_claim, folder, staged, dead_partial, live_partial):
        os.utime(path, (past, past))
    os.utime(new_claim, (started + 30, started + 30))  # claimed by this server after it started
    removed = sweep_run_folder(root, older_than=started)
    assert set(removed) == {old_claim, dead_partial}
    assert new_claim.is_dir() and staged.is_dir() and live_partial.is_dir() and (folder / "notes.txt").is_file()
    assert [r.name for r in list_runs(root, damaged=True)] == []  # claims and folders are not runs
