"""The bad inputs of the CLI sweep, uploaded through the Data page: each ends in ``st.error``, never in an
uncaught exception, and the table in use stays the same."""
from __future__ import annotations

import gzip
import io
import tempfile
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.apptest import CORA, MAIN, TIMEOUT, assert_clean, errors

DEEP = "[" * 10_000 + "]" * 10_000


def _zip(rows: str, crc_error: bool = False) -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.onnx", helper.make_model(graph).SerializeToString())
        archive.writestr("table.csv", "arch,acc\na.onnx,1\n" + rows)
    data = bytearray(buffer.getvalue())
    if crc_error:
        data[data.find(b"arch,acc")] ^= 1
    return bytes(data)


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # zip uploads unpack here, not in /tmp
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/data.py").run()
    at.radio(key="_w_ab_source_kind").set_value("Upload").run()
    assert_clean(at)
    return at


CASES = [
    ("bomb.csv.gz", gzip.compress(b"\0" * (32 * 1024**2), 9), "NUL bytes"),
    ("deep.jsonl", ('{"arch": ' + DEEP + ', "acc": 1}\n').encode(), "nested"),
    ("deep_nasbench-graph.csv", ('arch,valid_perf\n"' + DEEP + '",0.5\n').encode(), "nested"),
    ("deep_auto.csv", ('arch,valid_perf\n"' + DEEP + '",0.5\n').encode(), "could not recognise"),
    ("dup.csv", CORA.read_text().replace("arch,valid_perf,perf", "arch,valid_perf,valid_perf", 1).encode(),
     "repeated column names"),
    ("passwd.zip", _zip("/etc/passwd,2\n"), "no .onnx file '/etc/passwd' in the uploaded zip"),
    ("missing.zip", _zip("/etc/no-such-file,2\n"), "no .onnx file '/etc/no-such-file' in the uploaded zip"),
    ("climb.zip", _zip("../../../../etc/passwd,2\n"), "in the uploaded zip"),
    ("crc.zip", _zip("", crc_error=True), "cannot unpack"),
]


@pytest.mark.slow
def test_bad_uploads_end_in_one_error_each(app, tmp_path):
    for name, data, expected in CASES:
        app.file_uploader[0].set_value((name, data, "application/octet-stream")).run()
        assert_clean(app)
        shown = " ".join(errors(app))
        assert expected in shown, (name, shown)
        assert "Traceback" not in shown and len(errors(app)) == 1, (name, errors(app))
        assert app.session_state["ab_table_label"] == "nasbench-graph_cora_300.csv"
    leftovers = [p for p in (tmp_path / "autobuild-uploads").glob("*") if not (p / ".complete").is_file()]
    assert leftovers == []
