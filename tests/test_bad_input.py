"""Bad input and faults end in one line (exit code 2) and change nothing outside the output path.

One test (or more) per hole found by the bad-input sweep: data loss by --overwrite, decompression
bombs, escaping zip uploads, CPU blow-up in the graph space, unbounded reads, tracebacks, silent
acceptance. Only :class:`InputError` is a user error; anything else is an internal error with its
traceback logged.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import signal
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import EXIT_INPUT_ERROR, EXIT_INTERNAL_ERROR, main
from core.errors import InputError, SpecError, TableError
from core.spaces import get_space

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

ROOT = Path(__file__).resolve().parents[1]
CORA = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"
DEEP = "[" * 10_000 + "]" * 10_000
TRAIN = ["train", "--space", "nasbench-graph", "--target", "valid_perf", "--epochs", "1", "--min-steps", "0",
         "--width", "8", "--layers", "2", "--quiet"]


@contextmanager
def hang_guard(seconds: int):
    """Fail (instead of hanging the suite) if the block has not finished after ``seconds``."""
    def fail(*_):
        raise AssertionError(f"did not finish within {seconds} s")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv, capsys) -> tuple[int, str]:
    """Exit code and the stderr of ``python -m core ARGV`` run in this process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    return code, err


def one_line_error(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning")]
    assert code == EXIT_INPUT_ERROR, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A real (one-epoch) nasbench-graph run directory."""
    out = tmp_path_factory.mktemp("bad") / "run"
    assert main(TRAIN + ["--table", str(CORA), "--out", str(out)]) == 0
    return out


def _variant(small_run: Path, tmp_path: Path, edit=None, model=None) -> Path:
    run = tmp_path / "variant"
    shutil.copytree(small_run, run)
    if edit is not None:
        config = json.loads((run / "config.json").read_text())
        changed = edit(config)
        text = changed if isinstance(changed, str) else json.dumps(config if changed is None else changed)
        (run / "config.json").write_text(text)
    if model is not None:
        model(run / "model.pt")
    return run


# ------------------------------------------------------------------------------------ errors

def test_input_error_is_not_a_value_error():
    assert not issubclass(InputError, ValueError)


def test_a_bug_is_an_internal_error_with_a_logged_traceback(monkeypatch, tmp_path, capsys):
    from core.commands import sample

    def broken(name):
        raise ValueError("a slip in the code, not the user's input")

    monkeypatch.setattr(sample, "get_space", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, err = run_cli(["sample", "--space", "nasbench-graph", "--n", "3", "--out", tmp_path / "s.csv"], capsys)
    assert code == EXIT_INTERNAL_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error") and "ValueError" in lines[0]
    logs = list(tmp_path.glob("autobuild-internal-error-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text() and "a slip in the code" in logs[0].read_text()


# ------------------------------------------------------------------------------ 1 data loss

def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    line = one_line_error(*run_cli(TRAIN + ["--table", CORA, "--out", home, "--overwrite"], capsys))
    assert "not a run directory" in line
    assert (home / "thesis.tex").read_text() == "years of work"


def test_overwrite_onto_a_file_and_out_below_a_file_are_refused(tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    one_line_error(*run_cli(TRAIN + ["--table", CORA, "--out", afile, "--overwrite"], capsys))
    one_line_error(*run_cli(TRAIN + ["--table", CORA, "--out", afile / "run"], capsys))
    assert afile.read_text() == "keep me"


def test_overwrite_replaces_a_run_and_stale_partials_are_cleaned(small_run, tmp_path, capsys):
    from core.runs.run import is_run_dir, remove_stale_partials

    runs = tmp_path / "runs"
    runs.mkdir()
    out = runs / "r1"
    shutil.copytree(small_run, out)
    stale = runs / ".r1.partial-99999999-deadbeef"  # a pid that cannot be running
    stale.mkdir()
    live = runs / f".r1.partial-{os.getppid()}-cafecafe"  # a save in progress in a running process
    live.mkdir()
    code, err = run_cli(TRAIN + ["--table", CORA, "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert is_run_dir(out)
    assert not stale.exists() and live.exists()
    assert remove_stale_partials(out) == []


# ------------------------------------------------------------------------ 2 decompression bombs

def test_gzip_of_zeros_is_refused_without_decompressing_it(tmp_path):
    from core.files.table_io import read_table

    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"\0" * (64 * 1024**2), 9))
    with pytest.raises(TableError, match="NUL bytes"):
        read_table(bomb)
    with pytest.raises(TableError, match="NUL bytes"):
        read_table(bomb.read_bytes(), name="upload.csv.gz")


def test_gzip_output_is_capped(tmp_path, monkeypatch):
    from core.files import table_io as tables

    monkeypatch.setattr(tables, "MAX_DECOMPRESSED_BYTES", 1024**2)
    data = gzip.compress(b"arch,acc\n" + b"1" * (3 * 1024**2), 9)
    with pytest.raises(TableError, match="decompression bomb"):
        tables.read_table(data, name="bomb.csv.gz")
    small = gzip.compress(CORA.read_bytes())
    assert len(tables.read_table(small, name="cora.csv.gz")) == 300


def test_images_over_the_pixel_limit_are_one_line(tmp_path, monkeypatch):
    from PIL import Image

    from core.diffusion import images

    Image.new("L", (300, 200)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 50_000)
    with pytest.raises(InputError, match="300 x 200 pixels; the limit"):
        images.open_image(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # PIL's own bomb error (over twice its limit)
    with pytest.raises(InputError, match="far too many pixels"):
        images.open_image(tmp_path / "big.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="cannot read image"):
        images.open_image(tmp_path / "broken.png")


def test_fid_and_inpaint_inputs_use_the_pixel_limit(tmp_path, monkeypatch):
    from PIL import Image

    from core.diffusion import images
    from core.diffusion.fid import image_set_features
    from core.diffusion.inpaint_inputs import load_inputs

    for folder in ("imgs", "masks"):
        (tmp_path / folder).mkdir()
        for name in ("a", "b"):
            Image.new("RGB", (256, 256)).save(tmp_path / folder / f"{name}.png")
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(InputError, match="megapixels"):
        image_set_features(tmp_path / "imgs", use_cache=False)
    with pytest.raises(InputError, match="megapixels"):
        load_inputs(tmp_path / "imgs", tmp_path / "masks", 64)


# --------------------------------------------------------------------------------- 3 zip uploads

def _onnx_zip(tmp_path: Path, rows: list[str], crc_error: bool = False) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = tmp_path / "outside.onnx"
    onnx.save(helper.make_model(graph), model)
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.write(model, "models/a.onnx")
        archive.writestr("table.csv", "arch,acc\nmodels/a.onnx,1\n" + "".join(f"{r},2\n" for r in rows))
    data = bytearray(path.read_bytes())
    if crc_error:
        data[data.find(b"arch,acc")] ^= 1
    return bytes(data)


def _upload(tmp_path: Path, data: bytes):
    from core.files.table_io import read_table
    from core.spaces.onnx_upload import extract_onnx_zip
    from core.tables.validated import validate_table

    upload = extract_onnx_zip(data, "upload.zip", root=tmp_path / "uploads")
    return validate_table(read_table(upload.table_bytes, name=upload.table_name), "onnx", source="upload.zip",
                          base_dir=upload.table_dir, confine_to=upload.root)


def test_zip_table_paths_must_stay_inside_the_upload(tmp_path):
    answers = []
    for spec in ("/etc/passwd", "/etc/no-such-file-here", "../../../../etc/passwd", str(tmp_path / "outside.onnx"),
                 "models/missing.onnx"):
        with pytest.raises(TableError) as caught:
            _upload(tmp_path, _onnx_zip(tmp_path, [spec]))
        answers.append(str(caught.value).replace(spec, "SPEC"))
    assert len(set(answers)) == 1, answers  # outside and missing are indistinguishable
    assert "no .onnx file 'SPEC' in the uploaded zip" in answers[0]
    table = _upload(tmp_path, _onnx_zip(tmp_path, []))
    assert len(table) == 1 and table.frame["arch"][0].startswith(str(tmp_path / "uploads"))


def test_zip_with_a_bad_crc_leaves_nothing_behind(tmp_path):
    with pytest.raises(TableError, match="cannot unpack"):
        _upload(tmp_path, _onnx_zip(tmp_path, [], crc_error=True))
    assert list((tmp_path / "uploads").iterdir()) == []


# ---------------------------------------------------------------------------- 4 graph space CPU

@pytest.mark.slow
def test_graph_space_bounds_nodes_and_edges():
    from core.spaces.generic_graph import MAX_EDGES, MAX_NODES

    space = get_space("graph")
    with pytest.raises(SpecError, match="at most"):
        space.canonical(json.dumps({"nodes": [{"op": "relu"}] * (MAX_NODES + 1), "edges": []}))
    edges = [[i, j] for i in range(400) for j in range(i + 1, 400)][: MAX_EDGES + 1]
    with pytest.raises(SpecError, match="at most"):
        space.canonical(json.dumps({"nodes": [{"op": "relu"}] * 400, "edges": edges}))


def test_graph_space_many_isolated_nodes_canonicalise_quickly():
    from core.spaces.generic_graph import MAX_NODES

    space = get_space("graph")
    nodes = [{"op": "relu"}] * (MAX_NODES // 2) + [{"op": "conv"}] * (MAX_NODES // 2)
    with hang_guard(60):  # quadratic ordering took minutes here; near-linear takes well under a second
        canonical = space.canonical(json.dumps({"nodes": nodes, "edges": [[0, MAX_NODES - 1]]}))
    again = json.loads(canonical)
    assert len(again["nodes"]) == MAX_NODES and len(again["edges"]) == 1


# ---------------------------------------------------------------------------- 5 unbounded reads

def test_devices_and_fifos_are_not_read(tmp_path):
    from core.files.table_io import read_table

    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    with pytest.raises(TableError, match="not a regular file"):
        read_table(zero)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with hang_guard(20), pytest.raises(TableError, match="not a regular file"):
        read_table(fifo)


def test_table_size_is_checked_before_reading(tmp_path, monkeypatch):
    from core.files import table_io as tables

    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 1000)
    with pytest.raises(TableError, match="limit"):
        tables.read_table(CORA)
    with pytest.raises(TableError, match="limit"):
        tables.read_table(CORA.read_bytes(), name="cora.csv")


# ------------------------------------------------------------------ 6 tracebacks -> one line

@pytest.mark.parametrize("space", ["nasbench-graph", "ofa-mbv3", "sd-unet", "graph"])
def test_deeply_nested_json_specs_are_one_line(space):
    with pytest.raises(SpecError, match="nested 10000 levels deep"):
        get_space(space).canonical(DEEP)


def test_deeply_nested_json_tables_are_one_line(tmp_path):
    from core.files.table_io import read_table

    (tmp_path / "deep.jsonl").write_text('{"arch": ' + DEEP + ', "acc": 1}\n')
    (tmp_path / "deep.json").write_text("[" + DEEP + "]")
    for name in ("deep.jsonl", "deep.json"):
        with pytest.raises(TableError, match="nested"):
            read_table(tmp_path / name)


def test_inpaint_arch_deeply_nested_is_one_line():
    from core.commands.inpaint import parse_architectures

    with pytest.raises(InputError, match="--arch: .*nested"):
        parse_architectures(['{"down0": ' + DEEP + "}"])


def test_predict_out_a_directory_is_refused_before_work(small_run, tmp_path, capsys):
    line = one_line_error(*run_cli(["predict", "--run", small_run, "--table", CORA, "--out", tmp_path], capsys))
    assert str(tmp_path) in line


@pytest.mark.parametrize("case, expected", [
    ("pickle", "pickled objects"),
    ("truncated", "not a readable model file"),
    ("no_schema", "no schema"),
    ("huge_width", "width must be at most"),
    ("negative_width", "width must be a positive integer"),
    ("unknown_key", "unknown model setting 'colour'"),
    ("bad_moments", "could not convert"),
    ("short_moments", "hop_moments must be 3"),
    ("list", "got a JSON list"),
    ("deep", "nested 10000 levels deep"),
    ("bad_schema", "invalid feature schema"),
    ("wrong_shape", "do not fit"),
])
def test_tampered_runs_are_one_line(small_run, tmp_path, capsys, case, expected):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    edits = {
        "pickle": {"model": lambda p: p.write_bytes(pickle.dumps(Evil()))},
        "truncated": {"model": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])},
        "no_schema": {"edit": lambda c: c.pop("schema") and None},
        "huge_width": {"edit": lambda c: c["model"].update(width=100_000)},
        "negative_width": {"edit": lambda c: c["model"].update(width=-3)},
        "unknown_key": {"edit": lambda c: c["model"].update(colour="blue")},
        "bad_moments": {"edit": lambda c: c.update(hop_moments=[[1, "x"]])},
        "short_moments": {"edit": lambda c: c.update(hop_moments=[[0.0, 1.0]])},
        "list": {"edit": lambda c: [c]},
        "deep": {"edit": lambda c: DEEP},
        "bad_schema": {"edit": lambda c: c.update(schema={"features": [{"kind": "categorical"}]})},
        "wrong_shape": {"edit": lambda c: c["model"].update(width=9)},
    }
    run = _variant(small_run, tmp_path, **edits[case])
    line = one_line_error(*run_cli(["predict", "--run", run, "--table", CORA, "--out", tmp_path / "p.csv"], capsys))
    assert expected in line
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "p.csv").exists()


def test_corrupt_or_poisoned_fid_cache_is_a_miss(tmp_path):
    from PIL import Image

    from core.diffusion.fid import _cache_file, cached_features
    from core.diffusion.inception import list_images

    (tmp_path / "imgs").mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (32, 32)).save(tmp_path / "imgs" / f"{name}.png")
    cache = _cache_file(list_images(tmp_path / "imgs"), tmp_path / "cache")
    cache.parent.mkdir()
    names = np.array(["a.png", "b.png"])
    poisons = [
        b"not an npz at all",
        {"features": np.full((2, 2048), np.nan), "names": names, "sizes": np.array(["32x32"] * 2)},
        {"features": np.zeros((2, 7)), "names": names, "sizes": np.array(["32x32"] * 2)},
        {"features": np.array([{"x": 1}, None], dtype=object), "names": names, "sizes": np.array(["32x32"] * 2)},
    ]
    for poison in poisons:
        if isinstance(poison, bytes):
            cache.write_bytes(poison)
        else:
            with open(cache, "wb") as f:
                np.savez(f, **poison)
        assert cached_features(tmp_path / "imgs", tmp_path / "cache") is None
    good = {"features": np.zeros((2, 2048)), "names": names, "sizes": np.array(["32x32"] * 2)}
    with open(cache, "wb") as f:
        np.savez(f, **good)
    assert cached_features(tmp_path / "imgs", tmp_path / "cache").features.shape == (2, 2048)
    cache.write_bytes(cache.read_bytes()[:100])  # truncated
    assert cached_features(tmp_path / "imgs", tmp_path / "cache") is None


def test_fid_cache_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (32, 32)).save(tmp_path / "imgs" / f"{name}.png")
    (tmp_path / "cache").write_text("a file")
    line = one_line_error(*run_cli(["fid", "--generated", tmp_path / "imgs", "--reference", tmp_path / "imgs",
                                    "--cache-dir", tmp_path / "cache"], capsys))
    assert "is a file, not a folder" in line


def test_inpaint_refuses_a_folder_that_is_not_a_pipeline_and_a_sample_onto_a_file(tmp_path, capsys):
    from core.diffusion.pipeline import COMPONENTS

    model = tmp_path / "model"
    for component in COMPONENTS:
        (model / component).mkdir(parents=True)
    (model / "model_index.json").write_text("{}")
    (model / "unet" / "config.json").write_text('{"in_channels": 9}')
    line = one_line_error(*run_cli(["inpaint", "--model-dir", model, "--arch", "full", "--images", tmp_path,
                                    "--masks", tmp_path, "--out", tmp_path / "out"], capsys))
    assert "not a diffusers pipeline" in line
    (model / "model_index.json").write_text("[" * 5000)
    one_line_error(*run_cli(["inpaint", "--model-dir", model, "--arch", "full", "--images", tmp_path,
                             "--masks", tmp_path, "--out", tmp_path / "out"], capsys))
    (tmp_path / "afile").write_text("x")
    line = one_line_error(*run_cli(["inpaint", "--make-sample", tmp_path / "afile", "--size", "64"], capsys))
    assert "is a file, not a folder" in line and (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("command", [
    ["sample", "--space", "nasbench-graph", "--n", "3", "--out", "OUT/s.csv"],
    ["search", "--space", "nasbench-graph", "--method", "random", "--budget", "10"],
    ["loop", "init", "--space", "nasbench-graph", "--table", str(CORA), "--target", "valid_perf", "--out", "OUT/c"],
    TRAIN + ["--table", str(CORA), "--out", "OUT/r"],
])
def test_negative_seed_is_refused(command, tmp_path, capsys):
    argv = [a.replace("OUT", str(tmp_path)) for a in command] + ["--seed", "-1"]
    line = one_line_error(*run_cli(argv, capsys))
    assert "--seed" in line and "-1" in line
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 7 silent acceptance

def test_repeated_column_names_are_refused(tmp_path):
    from core.files.table_io import read_table

    frame = pd.read_csv(CORA).head(10)
    text = frame[["arch", "valid_perf", "perf"]].to_csv(index=False).replace("perf\n", "valid_perf\n", 1)
    assert text.splitlines()[0] == "arch,valid_perf,valid_perf"
    (tmp_path / "dup.csv").write_text(text)
    with pytest.raises(TableError, match="repeated column names \\['valid_perf'\\]"):
        read_table(tmp_path / "dup.csv")
    (tmp_path / "dup.jsonl").write_text('{"arch": "x", "acc": 1, "acc": 2}\n')
    with pytest.raises(TableError, match="appears twice"):
        read_table(tmp_path / "dup.jsonl")


def test_build_output_is_checked_before_the_build(small_run, tmp_path, capsys, monkeypatch):
    import core.building.builder  # the command imports build_architectures from here when it runs

    def must_not_run(*args, **kwargs):
        raise AssertionError("the build ran before its output path was checked")

    monkeypatch.setattr(core.building.builder, "build_architectures", must_not_run)
    for out in (tmp_path / "built.txt", tmp_path, tmp_path / "afile" / "built.csv"):
        (tmp_path / "afile").write_text("x")
        one_line_error(*run_cli(["build", "--run", small_run, "--top", "3", "--out", out], capsys))


def test_target_depth_counts_nesting_not_terms():
    from core.errors import TargetError
    from core.targets.expression import MAX_DEPTH
    from core.targets.target import evaluate_target, parse_target

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    flat = parse_target(" + ".join(["a"] * 40) + " - b", ["a", "b"])
    np.testing.assert_allclose(evaluate_target(frame, flat).values, [37.0, 76.0])
    parse_target(" * ".join(["a"] * 100), ["a", "b"])
    with pytest.raises(TargetError, match="nested too deeply"):
        parse_target("-(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), ["a"])
    with pytest.raises(TargetError, match="nested too deeply"):
        parse_target("a + (" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), ["a"])
