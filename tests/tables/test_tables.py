"""Reading tables from files and uploads, and validating them against a space.

The tests use a tiny space defined here (specs like ``a-b-c``) so they do not depend on the real
space files.
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import TableError
from core.files.table_io import read_table
from core.graph import ArchGraph
from core.spaces.base import SearchSpace, parse_error
from core.spaces.capabilities import FileSpace
from core.tables.validated import ValidatedTable, load_table, table_hash, validate_table


class LetterSpace(SearchSpace):
    """Chains of lowercase letters, ``a-b-c``; case is not significant, so ``A-B`` is ``a-b``."""

    name = "letters"

    def canonical(self, spec: str) -> str:
        parts = spec.strip().lower().split("-")
        for part in parts:
            if len(part) != 1 or not part.isalpha():
                raise parse_error(self.name, spec, f"{part!r} is not a single letter")
        return "-".join(parts)

    def to_graph(self, spec: str) -> ArchGraph:
        ops = self.canonical(spec).split("-")
        return ArchGraph(
            nodes=[{"op": op} for op in ops],
            edges=[(i, i + 1) for i in range(len(ops) - 1)],
            spec=self.canonical(spec),
        )


class FileLetterSpace(LetterSpace, FileSpace):
    """Like the onnx space: a spec is a file (maybe relative to the table) holding a letter chain."""

    name = "letter-files"

    @staticmethod
    def resolve(spec: str, base_dir) -> str:
        return (Path(base_dir) / spec).read_text().strip()


SPACE = LetterSpace()


@pytest.fixture
def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arch": ["a-b-c", "b-c", "C-A", "d"],
            "acc": [0.91, 0.52, 0.77, 0.66],
            "latency": [12.0, 3.5, 40.0, 7],
            "note": ["x", "y", "z", "w"],
        }
    )


def problems_of(df: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(TableError) as info:
        validate_table(df, SPACE, source="sample.csv", **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- reading

def test_csv_round_trip(tmp_path, good):
    path = tmp_path / "t.csv"
    good.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), good)
    pd.testing.assert_frame_equal(read_table(str(path)), good)


def test_csv_with_quoted_json_specs_and_spaces_after_commas(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('arch, acc\n"{""links"": [0, 1], ""ops"": [""gcn""]}", 0.5\n')
    df = read_table(path)
    assert list(df.columns) == ["arch", "acc"]
    assert json.loads(df["arch"][0]) == {"links": [0, 1], "ops": ["gcn"]}


@pytest.mark.parametrize(
    "text",
    [
        'arch,acc\n{"links": [0, 1]},0.5\n',  # one field too many in the first row: pandas' implicit index
        'arch,acc\na,0.1\n{"links": [0, 1, 2]},0.5\n',
    ],
)
def test_unquoted_json_spec_in_csv_gets_a_quoting_hint(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TableError, match=r"t\.csv: .*must be in double quotes"):
        read_table(path)


def test_gzipped_csv(tmp_path, good):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(good.to_csv(index=False).encode()))
    pd.testing.assert_frame_equal(read_table(path), good)


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_round_trip(tmp_path, good, suffix):
    path = tmp_path / f"t{suffix}"
    good.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), good)


def test_jsonl_round_trip(tmp_path, good):
    path = tmp_path / "t.jsonl"
    good.to_json(path, orient="records", lines=True)
    pd.testing.assert_frame_equal(read_table(path), good, check_dtype=False)


def test_json_array_of_records(tmp_path, good):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(good.to_dict(orient="records")))
    pd.testing.assert_frame_equal(read_table(path), good, check_dtype=False)


def test_upload_as_bytes_and_as_file_object(good):
    data = good.to_csv(index=False).encode()
    pd.testing.assert_frame_equal(read_table(data, name="upload.csv"), good)

    upload = io.BytesIO(data)
    upload.name = "upload.csv"  # what Streamlit's UploadedFile carries
    upload.read(5)  # a preview may already have consumed part of it
    pd.testing.assert_frame_equal(read_table(upload), good)


def test_upload_without_a_name_is_refused():
    with pytest.raises(TableError, match="needs a file name"):
        read_table(b"arch,acc\na,1\n")


@pytest.mark.parametrize("name", ["t.pkl", "t.pickle", "t.xlsx", "t"])
def test_unknown_extension_is_refused_naming_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x80\x04K\x01.")  # a pickle: must never be loaded
    with pytest.raises(TableError, match=rf"{name}: unknown table format"):
        read_table(path)


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("bad.parquet", b"not a parquet file", r"bad\.parquet: cannot read it as parquet"),
        ("bad.jsonl", b'{"arch": "a", "acc": 1}\n{"arch": "b", acc}\n', r"bad\.jsonl: line 2 is not valid JSON"),
        ("bad.jsonl", b'{"arch": "a"}\n[1, 2]\n', r"bad\.jsonl: line 2 is a JSON list"),
        ("bad.json", b'[{"arch": "a"}, ', r"bad\.json: not valid JSON"),
        ("empty.csv", b"", r"empty\.csv: the file is empty"),
        ("header.csv", b"arch,acc\n", r"header\.csv: the table has no rows"),
        ("latin.csv", "arch,acc\nä,1\n".encode("latin-1"), r"latin\.csv: cannot read it as csv"),
        ("bad.csv.gz", b"\x1f\x8bnot gzip", r"bad\.csv\.gz: cannot read it as csv"),
    ],
)
def test_malformed_files_are_one_line_errors_naming_the_file(name, data, message):
    with pytest.raises(TableError, match=message) as info:
        read_table(data, name=name)
    assert "\n" not in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TableError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


# ------------------------------------------------------------------------- validation

def test_valid_table(good):
    table = validate_table(good, SPACE, source="sample.csv")
    assert isinstance(table, ValidatedTable)
    assert table.frame["arch"].tolist() == ["a-b-c", "b-c", "c-a", "d"]
    assert table.metric_columns == ("acc", "latency")  # 'note' is text, not a metric
    assert list(table.frame.columns) == ["arch", "acc", "latency"]
    assert (table.frame[["acc", "latency"]].dtypes == np.float64).all()
    assert [g.spec for g in table.graphs] == table.frame["arch"].tolist()
    assert [g.num_nodes for g in table.graphs] == [3, 2, 2, 1]
    assert (table.source, table.space_name, len(table)) == ("sample.csv", "letters", 4)


def test_original_row_order_and_fresh_index(good):
    shuffled = good.iloc[[2, 0, 3, 1]]
    table = validate_table(shuffled, SPACE)
    assert list(table.frame.index) == [0, 1, 2, 3]
    assert table.frame["arch"].tolist() == ["c-a", "a-b-c", "d", "b-c"]


def test_chosen_metric_columns(good):
    table = validate_table(good, SPACE, metric_columns=["latency"])
    assert table.metric_columns == ("latency",)
    assert list(table.frame.columns) == ["arch", "latency"]


def test_missing_metric_column_lists_the_columns_there_are(good):
    message = problems_of(good, metric_columns=["acc", "flops"])
    assert message == "sample.csv: metric column 'flops' not found; columns are ['acc', 'latency', 'note']"


def test_missing_arch_column_names_the_file_and_columns(good):
    message = problems_of(good.rename(columns={"arch": "architecture"}))
    assert message.startswith("sample.csv: no 'arch' column")
    assert "columns are ['architecture', 'acc', 'latency', 'note']" in message


def test_bad_spec_is_reported_by_row(good):
    good.loc[1, "arch"] = "b-cc"
    message = problems_of(good)
    assert message == "sample.csv: row 2: invalid letters spec 'b-cc': 'cc' is not a single letter"


def test_empty_spec_is_reported_by_row(good):
    good.loc[3, "arch"] = None
    assert problems_of(good) == "sample.csv: row 4: empty 'arch'"


def test_duplicate_architecture_after_canonicalisation(good):
    good.loc[3, "arch"] = "A-B-C"
    assert problems_of(good) == "sample.csv: rows 1 and 4 are the same architecture"


def test_nan_and_infinite_metrics_name_row_and_column(good):
    good.loc[1, "acc"] = np.nan
    good.loc[2, "latency"] = np.inf
    message = problems_of(good)
    assert message == "sample.csv: 2 problems: row 2 column 'acc': NaN; row 3 column 'latency': inf"


def test_non_numeric_metric_names_row_column_and_value(good):
    good["acc"] = ["0.91", "0.52", "abc", "0.66"]
    assert problems_of(good) == "sample.csv: row 3 column 'acc': not a number ('abc')"


def test_all_problems_are_reported_in_one_line(good):
    good.loc[1, "arch"] = "b-7"
    good.loc[3, "arch"] = "a-b-c"
    good.loc[2, "acc"] = np.nan
    good.loc[0, "latency"] = -np.inf
    message = problems_of(good)
    assert message == (
        "sample.csv: 4 problems: row 1 column 'latency': -inf; "
        "row 2: invalid letters spec 'b-7': '7' is not a single letter; "
        "row 3 column 'acc': NaN; rows 1 and 4 are the same architecture"
    )


def test_problem_list_is_capped(good):
    big = pd.DataFrame({"arch": [f"{c}" for c in "abcdefghijklmnop"], "acc": [np.nan] * 16})
    message = problems_of(big, max_errors=3)
    assert message == (
        "sample.csv: 16 problems: row 1 column 'acc': NaN; row 2 column 'acc': NaN; "
        "row 3 column 'acc': NaN; and 13 more"
    )


def test_problems_from_a_real_file_name_the_file(tmp_path, good):
    good.loc[1, "acc"] = np.nan
    path = tmp_path / "sample.csv"
    good.to_csv(path, index=False)
    with pytest.raises(TableError, match=rf"^{path}: row 2 column 'acc': NaN$".replace("\\", "\\\\")):
        load_table(path, SPACE)


def test_relative_specs_are_resolved_against_base_dir(tmp_path):
    (tmp_path / "one.txt").write_text("a-b")
    (tmp_path / "two.txt").write_text("B-C")
    df = pd.DataFrame({"arch": ["one.txt", "two.txt"], "acc": [0.5, 0.6]})
    table = validate_table(df, FileLetterSpace(), base_dir=tmp_path)
    assert table.frame["arch"].tolist() == ["a-b", "b-c"]
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    assert load_table(path, FileLetterSpace()).frame["arch"].tolist() == ["a-b", "b-c"]


# ---------------------------------------------------------------------------- hashing

def test_table_hash_is_stable_across_formats_and_sensitive_to_data(tmp_path, good):
    good.to_csv(tmp_path / "t.csv", index=False)
    good.to_parquet(tmp_path / "t.parquet", index=False)
    from_csv = load_table(tmp_path / "t.csv", SPACE)
    from_parquet = load_table(tmp_path / "t.parquet", SPACE)
    h = table_hash(from_csv.frame)
    assert len(h) == 64
    assert h == table_hash(from_parquet.frame) == table_hash(from_parquet)

    changed = from_csv.frame.copy()
    changed.loc[0, "acc"] += 1e-12
    assert table_hash(changed) != h
    assert table_hash(from_csv.frame.iloc[::-1].reset_index(drop=True)) != h
