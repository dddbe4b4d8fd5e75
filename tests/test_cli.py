"""The command-line contract (docs/design.md, section 5): outputs, one-line errors, exit code 2, no half runs."""
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "sample_data" / "nasbench201_cifar10_300.csv"


def cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # so commands also run from another folder
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env)


def cli_in_process(*args, cwd=ROOT):
    """``cli`` without a new interpreter (no 5-8 s of imports per call), for the many error cases; the
    real ``python -m core`` entry point is exercised by every other test here."""
    from core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse usage errors
            code = exit_.code
    return subprocess.CompletedProcess(["core", *args], code, out.getvalue(), err.getvalue())


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("space, dataset, columns", [
    ("nasbench-graph", "citeseer", ["arch", "valid_perf", "perf", "latency", "para"]),
    ("nasbench201", None, ["arch", "baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy",
                           "analog_accuracy"]),
])
@pytest.mark.slow
def test_sample_writes_real_tables(tmp_path, space, dataset, columns):
    out = tmp_path / "t.csv"
    args = ["sample", "--space", space, "--n", 25, "--seed", 3, "--out", out]
    result = cli(*args, *(["--dataset", dataset] if dataset else []))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == columns and len(table) == 25 and table.arch.is_unique


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``python -m core train`` once for the tests that go on from a run (predict, score, build, exhaustive):
    (the run directory, the train command's result). One member: these check the commands' outputs; the
    README walkthrough (tests/test_readme.py) runs the same commands on the default ensemble."""
    run = tmp_path_factory.mktemp("cli") / "run"
    result = cli("train", "--space", "nasbench201", "--table", TABLE, "--target", "baseline_accuracy",
                 "--out", run, "--epochs", 3, "--layers", 2, "--width", 8, "--members", 1, "--quiet")
    return run, result


@pytest.mark.slow
def test_train_then_predict(trained, tmp_path):
    run, result = trained
    assert result.returncode == 0, result.stderr
    assert "Spearman" in result.stdout and "hop-norm Spearman" in result.stdout
    assert "The best validation epoch's weights were restored (epoch " in result.stdout  # default val split
    out = tmp_path / "p.csv"
    result = cli("predict", "--run", run, "--table", TABLE, "--out", out)
    assert result.returncode == 0, result.stderr
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["arch", "predicted", "norm_hop0", "norm_hop1", "norm_hop2"]
    assert len(predictions) == 300


@pytest.mark.slow
def test_train_warns_on_stderr_about_a_divisor_negative_in_every_row(tmp_path):
    table = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"
    result = cli_in_process("train", "--space", "nasbench-graph", "--table", table, "--target",
                            "100**valid_perf / log10(latency)", "--out", tmp_path / "run", "--epochs", 1,
                            "--layers", 1, "--width", 4, "--batch-size", 64, "--quiet", "--threads", 1)
    assert result.returncode == 0, result.stderr
    assert "warning: " in result.stderr and "column 'latency'" in result.stderr
    assert "ranking is reversed" in result.stderr


@pytest.mark.slow
def test_train_min_steps_zero_trains_exactly_the_epochs_asked_for(tmp_path):
    """The default --min-steps raises a small table's epochs (3 -> hundreds); 0 turns that off."""
    import json

    result = cli_in_process("train", "--space", "nasbench201", "--table", TABLE, "--target", "baseline_accuracy",
                            "--out", tmp_path / "run", "--epochs", 2, "--min-steps", 0, "--layers", 1,
                            "--width", 4, "--quiet", "--threads", 1)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs_run"] == 2
    assert_one_line_error(cli_in_process("train", "--space", "nasbench201", "--table", TABLE, "--target",
                                         "baseline_accuracy", "--out", tmp_path / "r2", "--min-steps", -1),
                          "min_steps")
    assert_one_line_error(cli_in_process("train", "--space", "nasbench201", "--table", TABLE, "--target",
                                         "baseline_accuracy", "--out", tmp_path / "run"),
                          "already exists", "--overwrite")


@pytest.mark.slow
def test_bad_target_leaves_no_run(tmp_path):
    run = tmp_path / "run"
    result = cli("train", "--space", "nasbench201", "--table", TABLE, "--target", "__import__('os')",
                 "--out", run, "--epochs", 2)
    assert_one_line_error(result, "__import__")
    assert not run.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bad_table_leaves_no_run(tmp_path):
    bad = tmp_path / "bad.csv"
    table = pd.read_csv(TABLE).head(20)
    table.loc[4, "arch"] = "|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|"
    table.loc[7, "baseline_accuracy"] = float("nan")
    table.to_csv(bad, index=False)
    run = tmp_path / "run"
    result = cli("train", "--space", "nasbench201", "--table", bad, "--target", "baseline_accuracy",
                 "--out", run, "--epochs", 2)
    assert_one_line_error(result, "bad.csv", "row 5", "row 8", "baseline_accuracy")
    assert not run.exists()


@pytest.mark.parametrize("args, needle", [
    (["sample", "--space", "nope", "--n", 3, "--out", "x.csv"], "unknown space 'nope'"),
    (["sample", "--space", "nasbench-graph", "--dataset", "imagenet", "--n", 3, "--out", "x.csv"], "imagenet"),
    (["sample", "--space", "nasbench201", "--n", 3, "--out", "x.txt"], "x.txt"),
    (["train", "--space", "nasbench201", "--table", "missing.csv", "--target", "a", "--out", "r"], "missing.csv"),
    (["predict", "--run", "no-such-run", "--table", TABLE, "--out", "p.csv"], "no-such-run"),
    (["train", "--space", "nasbench201", "--table", TABLE, "--target", "baseline_accuracy", "--out", "r",
      "--epochs", 0], "epochs"),
    (["sample", "--space", "nasbench201", "--n", "many", "--out", "x.csv"], "many"),
    (["benchmark", "--space", "nasbench201", "--rounds", 0], "rounds"),
    (["loop", "run", "--campaign", "nowhere", "--rounds", 0, "--n", 3], "--rounds must be positive"),
    (["loop", "init", "--space", "nasbench201", "--table", TABLE, "--target", "baseline_accuracy", "--out", "c",
      "--members", 0], "members must be an integer from 1 to"),
    (["benchmark", "--space", "nasbench201", "--threads", 0], "threads"),
    (["train", "--space", "nasbench201", "--table", TABLE, "--target", "baseline_accuracy", "--out", "r",
      "--threads", 0], "threads"),
    (["search", "--space", "nasbench201", "--method", "annealing"], "unknown method 'annealing'"),
    (["search", "--space", "onnx"], "ships no look-up table"),
    (["search", "--space", "nasbench201", "--out", "history.txt"], "history.txt: unknown table format"),
])
def test_input_errors_are_one_line(tmp_path, args, needle):
    assert_one_line_error(cli_in_process(*args, cwd=tmp_path), needle)


@pytest.mark.slow
def test_score_resamples_count_the_refits_placing_each_module(trained, tmp_path):
    run, _ = trained
    out = tmp_path / "stable.csv"
    result = cli("score", "--run", run, "--out", out, "--pool", 0, "--show", 1, "--resamples", 2)
    assert result.returncode == 0, result.stderr
    assert "refits: the predictor refit on 2 random halves of the table" in result.stdout
    assert "refits  " in result.stdout and "refit 2/2" in result.stderr  # each module line, and progress
    modules = pd.read_csv(out)
    assert modules.resample_top10.between(0, 2).all()
    # Each refit places min(10, modules of the hop) modules in the hop's top 10.
    per_hop = modules.groupby("hop").resample_top10.sum()
    assert (per_hop == 2 * modules.groupby("hop").size().clip(upper=10)).all()
    # Refits need the run's own table, and at least two of them.
    assert_one_line_error(cli_in_process("score", "--run", run, "--resamples", 2, "--table", TABLE), "drop --table")
    assert_one_line_error(cli_in_process("score", "--run", run, "--resamples", 1), "2..100")
    # Without --resamples the output keeps its columns.
    plain = tmp_path / "plain.csv"
    assert cli("score", "--run", run, "--out", plain, "--pool", 0).returncode == 0
    assert "resample_top10" not in pd.read_csv(plain).columns


@pytest.mark.slow
def test_score_and_build_write_their_tables(trained, tmp_path):
    run, trained_result = trained
    assert trained_result.returncode == 0, trained_result.stderr
    result = cli("score", "--run", run, "--out", tmp_path / "modules.csv", "--show", 2)
    assert result.returncode == 0, result.stderr
    modules = pd.read_csv(tmp_path / "modules.csv")
    assert set(modules.hop) == {0, 1, 2} and "hop 2:" in result.stdout
    assert "estimate over 300 scored + 15,325 other architectures of the space" in result.stdout  # all of them
    assert (modules.pool_architectures > modules.architectures).any()
    # --pool 0: the scored table alone is the pool.
    result = cli("score", "--run", run, "--out", tmp_path / "alone.csv", "--pool", 0)
    assert result.returncode == 0 and "300 scored + 0 other" in result.stdout, result.stderr
    assert (pd.read_csv(tmp_path / "alone.csv").pool_architectures == pd.read_csv(tmp_path / "alone.csv").architectures).all()
    assert_one_line_error(cli_in_process("score", "--run", run, "--pool", -1), "whole number")
    assert_one_line_error(cli_in_process("score", "--run", run, "--pool", 200000, "--out", tmp_path / "m.csv"),
                          "over the limit")
    result = cli("build", "--run", run, "--top", 3, "--k", 2)
    assert result.returncode == 0, result.stderr
    assert f"wrote 3 built architectures to {run / 'built.csv'}" in result.stdout  # no --out: says where
    assert "reduced search space: 64 architectures" in result.stdout  # k=2 ops at each of 6 edges
    assert "estimated mean target of the architectures holding the op" in result.stdout  # the default order
    built = pd.read_csv(run / "built.csv")
    assert list(built.columns[:3]) == ["arch", "score", "predicted"] and len(built) == 3 and built.arch.is_unique
    assert_one_line_error(cli_in_process("build", "--run", run, "--top", 0), "top")
    # Only cells that keep 85% under analog-hardware noise (a column of the analog-nasbench table).
    # (here with the paper's norm order, which the notes name)
    result = cli("build", "--run", run, "--top", 3, "--k", 2, "--where", "analog_accuracy >= 85",
                 "--module-order", "score", "--out", tmp_path / "robust.csv")
    assert result.returncode == 0, result.stderr
    assert "subject to analog_accuracy >= 85:" in result.stdout
    assert "mean cell score, shrunk by the architectures holding the op" in result.stdout
    assert (pd.read_csv(tmp_path / "robust.csv").true_analog_accuracy >= 85).all()
    assert_one_line_error(cli_in_process("build", "--run", run, "--top", 3, "--where", "analog_accuracy = 85"),
                          "is not 'column <= number'")
    # The regression head's top N over all 15,625 cells, the evaluated 300 left out.
    result = cli("exhaustive", "--run", run, "--top", 5, "--out", tmp_path / "exhaustive.csv")
    assert result.returncode == 0, result.stderr
    assert "scored 15,325 architectures of nasbench201" in result.stdout
    top = pd.read_csv(tmp_path / "exhaustive.csv")
    assert list(top.columns) == ["arch", "predicted", "rank"] and top["rank"].tolist() == [1, 2, 3, 4, 5]
    assert top.predicted.is_monotonic_decreasing and not set(top.arch) & set(pd.read_csv(TABLE).arch)


@pytest.mark.slow
def test_search_writes_its_history_and_picks_the_best_evaluated(tmp_path):
    from core.search.baselines import LookupOracle, regularized_evolution
    from core.spaces import get_space

    out = tmp_path / "history.csv"
    result = cli("search", "--space", "nasbench201", "--method", "evolution", "--budget", 20, "--seed", 3,
                 "--out", out)
    assert result.returncode == 0, result.stderr
    history = pd.read_csv(out)
    assert history.step.tolist() == list(range(1, 25)) and history.arch.is_unique
    assert history.best_baseline_accuracy.equals(history.baseline_accuracy.cummax())
    best = history.loc[history.baseline_accuracy.idxmax(), "arch"]
    assert f"picked (best baseline_accuracy): {best}" in result.stdout
    # The same search as core.search.baselines's, seed for seed.
    space = get_space("nasbench201")
    evaluator = LookupOracle(space.metrics_table().set_index("arch"), "baseline_accuracy", "baseline_accuracy", 24)
    regularized_evolution(space, evaluator, seed=3)
    assert [spec for spec, _, _ in evaluator.history] == history.arch.tolist()


@pytest.mark.slow
def test_benchmark_reports_every_method_at_equal_budget(tmp_path):
    out = tmp_path / "report.md"
    trials = tmp_path / "trials.csv"
    result = cli("benchmark", "--space", "nasbench201", "--budgets", 10, "--seeds", 1, "--epochs", 2,
                 "--methods", "autobuild,random,evolution,predictor,autobuild-rounds,autobuild-guided", "--rounds", 2,
                 "--out", out, "--csv", trials)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(trials)
    assert sorted(frame.method) == ["autobuild", "autobuild-guided", "autobuild-rounds", "evolution", "predictor",
                                    "random"]
    assert (frame.evaluated <= 14).all() and (frame[frame.method != "autobuild"].evaluated == 14).all()
    report = out.read_text()
    assert "| 10 | autobuild | " in report
    # What picking by validation can expect: the 10 best NAS-Bench-201 cells by accuracy average 93.93.
    assert "Best baseline_accuracy in space: **94.07**" in report
    assert "of the 10 best by baseline_accuracy: 93.93" in report
    # Each row ranks its pick's selection value in the space: 94.07 is the best cell, in the top 0.01 %.
    from core.search.benchmark import BenchmarkResult, Lookup
    from core.search.benchmark_config import BenchmarkConfig
    lookup = Lookup.of(BenchmarkConfig(space="nasbench201"))
    ranked = BenchmarkResult(BenchmarkConfig(space="nasbench201"), "cifar10", lookup.select, lookup.report, 94.07, 94.07,
                             select_sorted=np.sort(lookup.table[lookup.select].to_numpy()))
    assert ranked.select_top_percent(94.07) <= 0.01 and 49 <= ranked.select_top_percent(90.41) <= 51
    assert "top % of the space (seeds in the top 0.5 %)" in report
    assert_one_line_error(cli_in_process("benchmark", "--space", "graph"), "ships no look-up table")


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["train", "--epochs", "x"],
                                  ["predict", "--help"], ["score", "--help"], ["exhaustive", "--help"]])
@pytest.mark.slow
def test_help_and_argument_errors_do_not_import_torch(args):
    """``--help`` used to take 13 s importing torch and PyG for every command; checked by what is
    imported rather than by a timing, which a busy machine would make flaky."""
    code = ("import sys\nfrom core.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'torch_geometric', 'pandas', 'core.spaces') if m in sys.modules)\n"
            "print('HEAVY', heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in result.stderr, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout
    if args == ["--help"]:
        assert "train the predictor" in result.stdout  # each command's HELP, read without importing it


@pytest.mark.slow
def test_a_proteins_run_scores_and_builds_within_what_proteins_evaluates(tmp_path):
    # proteins evaluates 2,021 of NAS-Bench-Graph's 26,206 architectures (five of the nine ops): the estimate's
    # pool and the build stay there, so every built architecture has true metrics.
    table, run = tmp_path / "proteins.csv", tmp_path / "run"
    assert cli("sample", "--space", "nasbench-graph", "--dataset", "proteins", "--n", 60, "--seed", 0,
               "--out", table).returncode == 0
    result = cli("train", "--space", "nasbench-graph", "--table", table, "--target", "valid_perf", "--dataset",
                 "proteins", "--out", run, "--epochs", 3, "--min-steps", 0, "--layers", 2, "--width", 8,
                 "--members", 2, "--quiet")
    assert result.returncode == 0, result.stderr
    result = cli("score", "--run", run, "--out", tmp_path / "modules.csv", "--show", 1)
    assert result.returncode == 0, result.stderr
    assert "60 scored + 1,961 other architectures of the space (proteins evaluates 2,021)" in result.stdout
    result = cli("build", "--run", run, "--top", 3, "--k", 2, "--out", tmp_path / "built.csv")
    assert result.returncode == 0, result.stderr
    built = pd.read_csv(tmp_path / "built.csv")
    assert len(built) == 3 and built["true_valid_perf"].notna().all()
