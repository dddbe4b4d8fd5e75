"""Metric units in headers and axis titles: NAS-Bench-Graph's ``latency`` is seconds, ``para`` millions of
parameters (the space's ``metric_units``); a bare 0.004 or 1.2 told the user nothing."""
from __future__ import annotations

import pytest

import json


from tests.app.apptest import wait_for
from tests.app.test_pages import open_app, trained_runs_dir, with_run  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


def headers(element) -> dict:
    """The column headers a dataframe element shows: its column settings' labels."""
    config = json.loads(element.proto.columns or "{}")
    return {name: column.get("label") for name, column in config.items()}


def test_data_page_shows_the_units_of_the_bundled_tables_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(tmp_path / "runs"))
    at = open_app("views/data.py")
    stats = next(df.value for df in at.dataframe if "median" in df.value.columns)
    units = dict(zip(stats["column"], stats["unit"]))
    assert units == {"arch": "", "valid_perf": "", "perf": "", "latency": "s", "para": "M"}
    preview = next(df for df in at.dataframe if "latency" in df.value.columns)
    assert headers(preview)["latency"] == "latency (s)" and headers(preview)["para"] == "para (M)"


def test_build_page_headers_and_limits_carry_units(with_run):  # noqa: F811
    at = open_app("views/build.py")
    assert any("latency in seconds, para in millions" in c.value for c in at.caption)
    at.number_input(key="_w_ab_build_top").set_value(3)
    at.button(key="build_button").click().run()
    wait_for(at, lambda a: any(df.value is not None and "#" in df.value.columns for df in a.dataframe))
    built = next(df for df in at.dataframe if "#" in df.value.columns)
    assert headers(built)["true_latency"] == "true latency (s)" and headers(built)["true_para"] == "true para (M)"
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = {figure["layout"]["xaxis"]["title"]["text"], figure["layout"]["yaxis"]["title"]["text"]}
    assert titles & {"latency (s)", "para (M)"}, titles
