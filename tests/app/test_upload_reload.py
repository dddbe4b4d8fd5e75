"""An uploaded table survives a browser reload and a shared link: it is kept on the server under its content
hash (app/upload_store.py), and the hash goes in the URL; a bounded store, and no file by guessing."""
from __future__ import annotations

import hashlib
import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from app import upload_store
from tests.app.apptest import CORA, MAIN, TIMEOUT, assert_clean

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

NB201 = CORA.parent / "nasbench201_cifar10_300.csv"


@pytest.fixture(autouse=True)
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv(upload_store.UPLOADS_ENV, str(tmp_path / "uploads"))
    return tmp_path


def session(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.query_params.update(params or {})
    at.run()
    at.switch_page("views/data.py").run()
    assert_clean(at)
    return at


def url(at: AppTest) -> dict:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def test_a_reload_and_a_shared_link_bring_the_upload_back(dirs):
    data = NB201.read_bytes()[:40000].rsplit(b"\n", 1)[0] + b"\n"  # a table of its own, not the bundled one
    at = session()
    at.radio(key="_w_ab_source_kind").set_value("Upload").run()
    at.file_uploader[0].set_value(("my_cells.csv", data, "text/csv")).run()
    assert_clean(at)
    rows = len(at.session_state["ab_table"])
    params = url(at)
    assert params["upload"] == hashlib.sha256(data).hexdigest() and "table" not in params

    again = session(params)  # a reload, or the link opened in another browser
    assert again.session_state["ab_table_label"] == "my_cells.csv (nasbench201)"
    assert len(again.session_state["ab_table"]) == rows
    assert again.radio(key="_w_ab_source_kind").value == "Upload"
    assert any("my_cells.csv" in i.value for i in again.info)
    assert url(again)["upload"] == params["upload"]


def test_an_unknown_or_malformed_key_falls_back_to_the_default_table_and_says_so(dirs):
    for key in ("0" * 64, "../../etc/passwd", "*"):
        at = session({"upload": key})
        assert at.session_state["ab_table_label"] == CORA.name
        assert "upload" not in url(at)
    assert not (dirs / "uploads").exists() or not any((dirs / "uploads").iterdir())


def test_the_store_is_bounded_and_old_uploads_expire(dirs, monkeypatch):
    keys = [upload_store.keep(bytes([i]) * 1000, f"t{i}.csv", "graph", None) for i in range(3)]
    monkeypatch.setattr(upload_store, "MAX_TOTAL_BYTES", 2500)
    for age, key in zip((300, 200), keys):  # the first two are older
        old = time.time() - age
        os.utime(upload_store.uploads_dir() / key, (old, old))
    assert upload_store.prune() == [keys[0]]  # 3 x ~1 kB > 2.5 kB: the least recently used goes
    assert upload_store.load(keys[0]) is None and upload_store.load(keys[2]).name == "t2.csv"
    old = time.time() - upload_store.MAX_AGE_S - 10
    os.utime(upload_store.uploads_dir() / keys[1], (old, old))
    assert upload_store.load(keys[1]) is None  # expired, even before a prune removes it
    assert upload_store.prune() == [keys[1]]
    (upload_store.uploads_dir() / keys[2] / "data").write_bytes(b"tampered")
    assert upload_store.load(keys[2]) is None  # the bytes no longer match their key
