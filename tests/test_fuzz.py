"""Property-based fuzzing of every parser that reads user text: any input ends in a valid result or in
the project's own :class:`InputError`, within a time bound (hypothesis' per-example deadline).

The example budget is fixed and the search derandomised, so the CI run is short and repeatable.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import MAX_MESSAGE_CHARS, InputError
from core.files.bounded_json import load_json
from core.files.table_io import read_table
from core.spaces import get_space, space_names
from core.tables.validated import validate_table
from core.targets.target import evaluate_target, parse_target

FUZZ = settings(max_examples=60, deadline=timedelta(seconds=5), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: JSON values, nested a few levels: the shapes specs and configs are made of.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


def _json_text(value) -> str:
    return json.dumps(value, allow_nan=True)


def _brackets(depth: int, opener: str) -> str:
    return opener * depth + {"[": "]", "{": "}"}[opener] * depth


#: Text that looks like a spec: JSON of random shape, near-misses of real specs, raw bytes, deep nesting.
spec_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(_json_text),
    st.builds(lambda links, ops: json.dumps({"links": links, "ops": ops}),
              st.lists(st.integers(-2, 5), max_size=6), st.lists(st.sampled_from(["gcn", "gat", "x", ""]), max_size=6)),
    st.builds(lambda nodes, edges: json.dumps({"nodes": nodes, "edges": edges}),
              st.lists(st.dictionaries(st.sampled_from(["op", "k", "c"]), st.one_of(st.text(max_size=3),
                                                                                      st.integers(-3, 3)), max_size=3),
                       max_size=8),
              st.lists(st.lists(st.integers(-1, 9), min_size=0, max_size=3), max_size=12)),
    st.builds(lambda ks, e, d: json.dumps({"ks": ks, "e": e, "d": d}),
              st.lists(st.integers(0, 8), max_size=22), st.lists(st.integers(0, 8), max_size=22),
              st.lists(st.integers(0, 5), max_size=6)),
    st.builds(lambda parts: "+".join(parts), st.lists(st.text("|~_0123456789acnonskip-conv", max_size=12), max_size=4)),
    st.builds(_brackets, st.integers(50, 3000), st.sampled_from(["[", "{"])),
)


@pytest.mark.parametrize("space_name", [name for name in space_names() if name != "onnx"])
@FUZZ
@given(text=spec_texts)
@pytest.mark.slow
def test_every_spec_parser_accepts_or_refuses_in_one_line(space_name, text):
    space = get_space(space_name)
    try:
        canonical = space.canonical(text)
    except InputError as err:
        assert "\n" not in str(err)
        return
    # A valid spec canonicalises to a fixed point and has a graph.
    assert space.canonical(canonical) == canonical
    graph = space.to_graph(canonical)
    assert len(graph.nodes) >= 1


def test_onnx_spec_parser_refuses_non_files_in_one_line(tmp_path):
    space = get_space("onnx")
    for text in ("", " ", "/dev/zero", str(tmp_path), "[" * 5000, "\x00", "~nobody/x.onnx"):
        with pytest.raises(InputError):
            space.canonical(text)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), json_values.map(_json_text),
                      st.builds(_brackets, st.integers(1, 5000), st.sampled_from(["[", "{"]))))
@pytest.mark.slow
def test_bounded_json_loader(text):
    try:
        value = load_json(text)
    except InputError as err:
        assert "\n" not in str(err)
        return
    assert json.loads(text) == value or _has_nan(value)


def _has_nan(value) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


#: Table files: random bytes, CSV text with random cells, JSON lines, gzip of either.
cells = st.one_of(st.text(max_size=10), st.floats(allow_nan=True), st.integers(), st.just('{"links":[0,1,2,3],'
                                                                                          '"ops":["gcn","gcn","gcn","gcn"]}'))
csv_texts = st.builds(
    lambda header, rows: pd.DataFrame(rows, columns=header).to_csv(index=False) if rows else ",".join(header),
    st.lists(st.sampled_from(["arch", "valid_perf", "perf", "x", ""]), min_size=1, max_size=4),
    st.just([]),
) | st.builds(lambda header, n, cell: ",".join(header) + "\n" + "\n".join(",".join([str(cell)] * len(header))
                                                                           for _ in range(n)),
              st.lists(st.sampled_from(["arch", "valid_perf", "perf", "x", "arch"]), min_size=1, max_size=4),
              st.integers(0, 5), cells)
jsonl_texts = st.lists(json_values.map(_json_text), max_size=5).map("\n".join)
table_files = st.one_of(
    st.tuples(st.binary(max_size=300), st.sampled_from(["t.csv", "t.jsonl", "t.json", "t.parquet", "t.csv.gz", "t.txt"])),
    st.tuples(csv_texts.map(str.encode), st.just("t.csv")),
    st.tuples(csv_texts.map(lambda t: gzip.compress(t.encode())), st.just("t.csv.gz")),
    st.tuples(jsonl_texts.map(str.encode), st.sampled_from(["t.jsonl", "t.json"])),
)


@FUZZ
@given(table=table_files)
@pytest.mark.slow
def test_table_reader_and_validator_accept_or_refuse_in_one_line(table):
    data, name = table
    try:
        frame = read_table(io.BytesIO(data), name=name)
        validated = validate_table(frame, "nasbench-graph", source=name)
    except InputError as err:
        assert "\n" not in str(err)
        return
    assert len(validated) == len(frame) and validated.metric_columns


#: Expressions: arbitrary text, and token soups of the whitelist plus things it must refuse.
TOKENS = ["a", "b", "`top-1 acc`", "1", "2.5", "1e308", "+", "-", "*", "/", "**", "(", ")", "log(", "exp(", "sqrt(",
          "abs(", "log10(", "__import__", "os", ".", ",", "lambda", "[", "]", "'x'", "==", "if", " "]
expressions = st.one_of(st.text(max_size=80), st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))


@FUZZ
@given(expression=expressions)
@pytest.mark.slow
def test_target_parser_accepts_or_refuses_in_one_line(expression):
    frame = pd.DataFrame({"a": [0.5, 2.0, -1.0], "b": [1.0, 0.0, 3.0], "top-1 acc": [70.0, 71.0, 72.0]})
    try:
        target = parse_target(expression, list(frame.columns))
        result = evaluate_target(frame, target)
    except InputError as err:
        assert "\n" not in str(err)
        return
    assert len(result.kept) == len(frame)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real one-epoch run whose config.json the config fuzzer rewrites."""
    from core.cli import main

    out = tmp_path_factory.mktemp("fuzz") / "run"
    table = Path(__file__).resolve().parents[1] / "sample_data" / "nasbench-graph_cora_300.csv"
    assert main(["train", "--space", "nasbench-graph", "--table", str(table), "--target", "valid_perf", "--epochs",
                 "1", "--min-steps", "0", "--width", "8", "--layers", "2", "--quiet", "--out", str(out)]) == 0
    return out


KEYS = ["space", "target", "target_mean", "target_std", "hop_moments", "schema", "model", "train", "format_version",
        "rows", "dataset"]
MODEL_KEYS = ["gnn", "width", "layers", "fe_hidden", "head_hidden", "monotone_init", "colour"]


@FUZZ
@given(top=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3),
       model=st.dictionaries(st.sampled_from(MODEL_KEYS), json_values | st.integers(-5, 10**6), max_size=2),
       drop=st.lists(st.sampled_from(KEYS), max_size=2))
@pytest.mark.slow
def test_run_config_loader_accepts_or_refuses_in_one_line(run_dir, tmp_path_factory, top, model, drop):
    from core.runs.run import Run

    run = tmp_path_factory.mktemp("cfg") / "run"
    shutil.copytree(run_dir, run)
    config = json.loads((run / "config.json").read_text())
    config.update(top)
    if isinstance(config.get("model"), dict):
        config["model"].update(model)
    for key in drop:
        config.pop(key, None)
    (run / "config.json").write_text(json.dumps(config, allow_nan=True))
    try:
        loaded = Run.load(run)
    except InputError as err:
        assert "\n" not in str(err)
        return
    finally:
        shutil.rmtree(run.parent, ignore_errors=True)
    assert loaded.model.config.width <= 1024


# ------------------------------------------------------------------ run and campaign files (shared folders)

#: Numbers at the edges: huge integers and floats, NaN, infinities, and strings where numbers belong.
edge_numbers = (st.integers(-10**30, 10**30) | st.just(10**400) | st.floats(allow_nan=True, allow_infinity=True)
                | st.sampled_from(["0.9", "", "nan", "1e999"]) | st.none() | st.booleans())
METRIC_KEYS = ["heldout", "train", "epochs_run", "best_epoch", "train_seconds", "restored_best", "history",
               "heldout_split"]
QUALITY_KEYS = ["spearman", "kendall_tau", "mae", "precision_at_k", "rows", "k", "hop_norm_spearman"]
file_bytes = st.one_of(st.binary(max_size=400), st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
                       json_values.map(lambda v: _json_text(v).encode()))


def _assert_one_line(err: InputError) -> None:
    text = str(err)
    assert "\n" not in text and len(text) <= MAX_MESSAGE_CHARS, text[:600]


def _shown_like_the_pages(metrics: dict) -> None:
    """Format every number the run list, Train and Compare pages format (the probe's crash site)."""
    from core import viz

    held = metrics.get("heldout") or {}
    for key in ("spearman", "kendall_tau", "mae", "precision_at_k"):
        value = held.get(key)
        if value is not None:
            f"{value:.2f}"
    f"{metrics.get('train_seconds', float('nan')):.1f}"
    viz.hop_spearman_bars(held.get("hop_norm_spearman", []))
    viz.training_curves(metrics.get("history", []))


@FUZZ
@given(top=st.dictionaries(st.sampled_from(METRIC_KEYS), json_values | edge_numbers, max_size=3),
       quality=st.dictionaries(st.sampled_from(QUALITY_KEYS), edge_numbers | st.lists(edge_numbers, max_size=4),
                               max_size=3),
       raw=st.none() | file_bytes)
@pytest.mark.slow
def test_run_metrics_and_listing_accept_or_refuse_in_one_line(run_dir, tmp_path_factory, top, quality, raw):
    """A shared run's metrics.json of any shape or bytes: the run list never raises (a bad one is listed
    as damaged, one line), and what loads can be formatted as the pages format it."""
    from core.runs.listing import list_runs
    from core.runs.loading import load_run_metrics

    root = tmp_path_factory.mktemp("metrics")
    run = root / "run"
    shutil.copytree(run_dir, run)
    if raw is not None:
        (run / "metrics.json").write_bytes(raw)
    else:
        metrics = json.loads((run / "metrics.json").read_text())
        metrics.update(top)
        if isinstance(metrics.get("heldout"), dict):
            metrics["heldout"].update(quality)
        (run / "metrics.json").write_text(json.dumps(metrics, allow_nan=True))
    try:
        listed = list_runs(root, damaged=True)
        assert len(listed) == 1
        try:
            metrics = load_run_metrics(run)
        except InputError as err:
            _assert_one_line(err)
            assert listed[0].damaged and not list_runs(root)
            return
        assert not listed[0].damaged
        _shown_like_the_pages(metrics)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@FUZZ
@given(data=file_bytes)
def test_run_table_reader_accepts_or_refuses_in_one_line(run_dir, tmp_path_factory, data):
    from core.runs.loading import read_run_table

    root = tmp_path_factory.mktemp("runtable")
    (root / "table.csv").write_bytes(data)
    try:
        frame = read_run_table(root, ("valid_perf",))
        assert "arch" in frame and "valid_perf" in frame
    except InputError as err:
        _assert_one_line(err)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory):
    """A real campaign (external evaluator: starting it trains nothing) on the shipped cora sample."""
    from core.cli import main

    out = tmp_path_factory.mktemp("fuzzcamp") / "camp"
    table = Path(__file__).resolve().parents[1] / "sample_data" / "nasbench-graph_cora_300.csv"
    assert main(["loop", "init", "--space", "nasbench-graph", "--table", str(table), "--target", "valid_perf",
                 "--out", str(out), "--evaluator", "external"]) == 0
    return out


CAMPAIGN_FILES = ["campaign.json", "table.csv", "rounds/001/proposals.csv", "rounds/001/evaluations.jsonl",
                  "log.jsonl"]


@FUZZ
@given(name=st.sampled_from(CAMPAIGN_FILES), data=file_bytes,
       settings_=st.dictionaries(st.sampled_from(["space", "target", "metric_columns", "seed", "epochs", "members",
                                                  "method", "evaluator", "settings", "format_version"]),
                                 json_values | edge_numbers, max_size=2))
def test_campaign_loader_accepts_or_refuses_in_one_line(campaign_dir, tmp_path_factory, name, data, settings_):
    """Any bytes in any campaign file, or wrong shapes in campaign.json: opening the campaign and reading
    its status ends in a status or one InputError line."""
    from core.campaign.campaign import Campaign

    root = tmp_path_factory.mktemp("camp")
    camp = root / "camp"
    shutil.copytree(campaign_dir, camp)
    (camp / "rounds" / "001").mkdir(parents=True, exist_ok=True)
    if name == "campaign.json" and settings_:
        config = json.loads((camp / name).read_text())
        config.update(settings_)
        (camp / name).write_text(json.dumps(config, allow_nan=True))
    else:
        (camp / name).write_bytes(data)
    try:
        Campaign.open(camp).status()
    except InputError as err:
        _assert_one_line(err)
    finally:
        shutil.rmtree(root, ignore_errors=True)
