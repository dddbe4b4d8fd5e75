"""Bad inputs and damaged shared files against the CLI: exit code, stderr lines, the longest line and the
peak memory of each command, as whole processes (``python benchmarks/bad_input_probe.py``).

The bars (issue 28): every bad input exits 2 with one line under 500 characters, and no command reads
past its caps (peak RSS well under 1.5 GB, whatever the file claims to hold).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORA = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"
SPEC = json.dumps({"links": [0, 1, 2, 1], "ops": ["gcn", "gin", "fc", "cheb"]})


def cli(*args: object) -> tuple[int, list[str], float]:
    """Exit code, stderr lines and peak RSS (MiB, from GNU time) of ``python -m core ARGS`` in a fresh process."""
    done = subprocess.run(["/usr/bin/time", "-f", "@@RSS %M", sys.executable, "-m", "core", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    rss = [float(line.split()[1]) / 1024 for line in lines if line.startswith("@@RSS ")]
    ours = [line for line in lines if not line.startswith(("@@RSS ", "Command exited with non-zero status"))]
    return done.returncode, ours, rss[-1] if rss else float("nan")


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bad-input-probe-"))
    good = tmp / "runs" / "good"
    code, _, _ = cli("train", "--space", "nasbench-graph", "--table", CORA, "--target", "valid_perf", "--epochs", "1",
                     "--min-steps", "0", "--width", "8", "--layers", "2", "--quiet", "--out", good)
    assert code == 0

    def variant(name: str, damage) -> Path:
        path = tmp / "runs" / name
        shutil.copytree(good, path)
        damage(path)
        return path

    def metrics_strings(p: Path) -> None:
        m = json.loads((p / "metrics.json").read_text())
        m["heldout"]["spearman"], m["train_seconds"] = "0.9", "fast"
        (p / "metrics.json").write_text(json.dumps(m))

    def dev_zero(p: Path) -> None:
        (p / "table.csv").unlink()
        os.symlink("/dev/zero", p / "table.csv")

    def sparse_2gb(p: Path) -> None:
        with open(p / "table.csv", "r+b") as handle:
            handle.truncate(2 * 1024**3)

    wide = tmp / "wide.csv"
    wide.write_text(f'arch,{"c" * 20 * 1024**2}\n"{SPEC.replace(chr(34), chr(34) * 2)}",1\n')
    camp = tmp / "camp"
    assert cli("loop", "init", "--space", "nasbench-graph", "--table", CORA, "--target", "valid_perf", "--out", camp,
               "--evaluator", "external")[0] == 0
    cases = {
        "score: metrics.json strings": ("score", "--run", variant("strings", metrics_strings)),
        "score: table.csv -> /dev/zero": ("score", "--run", variant("zero", dev_zero)),
        "score: table.csv sparse 2 GB": ("score", "--run", variant("big", sparse_2gb)),
        "compare: table.csv -> /dev/zero": ("compare", good, tmp / "runs" / "zero"),
        "compare: metrics.json strings": ("compare", good, tmp / "runs" / "strings"),
        "train: 20 MB column name": ("train", "--space", "nasbench-graph", "--table", wide, "--target", "acc", "--out",
                                     tmp / "r"),
        "sample: 120,000-char --dataset": ("sample", "--space", "nasbench-graph", "--dataset", "d" * 120_000, "--n",
                                           "5", "--out", tmp / "s.csv"),
        "build: 120,000-char --where": ("build", "--run", good, "--top", "3", "--where", "w" * 120_000),
    }
    rows = []
    for name, args in cases.items():
        rows.append((name, *cli(*args)))
    with open(camp / "table.csv", "r+b") as handle:
        handle.truncate(2 * 1024**3)
    rows.append(("loop status: table.csv sparse 2 GB", *cli("loop", "status", "--campaign", camp)))
    print(f"{'case':38s} exit lines longest  peak MiB")
    for name, code, lines, peak in rows:
        print(f"{name:38s} {code:4d} {len(lines):5d} {max(map(len, lines), default=0):7d} {peak:9.0f}")
    shutil.rmtree(tmp, ignore_errors=True)
    bad = [r for r in rows if r[1] != 2 or len(r[2]) != 1 or max(map(len, r[2])) >= 500]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
