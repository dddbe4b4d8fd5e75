"""The benchmark (core.search.benchmark) end to end on a tiny look-up table: methods, report, configuration.

The planted space's 144 architectures with their planted target form the look-up table. The methods
run here are the three no other test runs as a benchmark (autobuild-graph, autobuild+evo,
autobuild-local; tests/test_cli.py runs six others on NAS-Bench-201) plus the two baselines the report
compares with. Each predictor trains for TrainConfig's minimum of optimiser steps, a few seconds each.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.search.benchmark import (
    Lookup,
    markdown_report,
    run_benchmark,
    run_method,
    summary_table,
)
from core.search.benchmark_config import BenchmarkConfig
from core.spaces import register_space
from core.spaces.capabilities import LookupSpace
from tests.planted import PlantedSpace, planted_lookup

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


@register_space
class PlantedLookupSpace(PlantedSpace, LookupSpace):
    """The planted space with its targets as a shipped benchmark (one dataset)."""

    name = "test-planted-lookup"
    datasets = ("planted",)
    default_metric = validation_metric = test_metric = "y"

    def metrics_table(self, dataset: str | None = None) -> pd.DataFrame:
        self.resolve_dataset(dataset)
        return planted_lookup().reset_index()


def tiny_config(**changes) -> BenchmarkConfig:
    settings = dict(space=PlantedLookupSpace.name, budgets=(10,), seeds=(0,), epochs=3, k=2, rounds=2)
    return BenchmarkConfig(**{**settings, **changes})


UNTESTED_ELSEWHERE = ("autobuild-graph", "autobuild+evo", "autobuild-local")
RUN = ("random", "evolution") + UNTESTED_ELSEWHERE


@pytest.fixture(scope="module")
def result():
    return run_benchmark(tiny_config(methods=RUN))


@pytest.mark.slow
def test_every_method_runs_end_to_end(result):
    table = planted_lookup()
    frame = result.frame()
    assert list(frame.method) == list(RUN)
    assert (frame.evaluated <= 10 + 4).all() and (frame.evaluated >= 1).all()
    for trial in result.trials:
        # The pick is a real architecture, reported with its own looked-up value.
        assert trial.picked in table.index
        assert trial.picked_report == trial.picked_select == table.loc[trial.picked, "y"]
    assert result.best_in_space == table["y"].max() == 4.0


def test_report_has_a_row_per_method_and_compares_variants_with_the_baselines(result):
    summary = summary_table(result)
    assert list(summary.method) == list(RUN) and (summary.seeds == 1).all()
    variants = set(UNTESTED_ELSEWHERE)
    assert {(v, b) for _, v, b, *_ in summary.attrs["wins"]} == {(v, b) for v in variants
                                                                for b in ("random", "evolution")}
    report = markdown_report(result)
    assert report.startswith("### test-planted-lookup / planted")
    assert "Best y in space: **4.00**" in report
    for method in RUN:
        assert f"| 10 | {method} | " in report


def test_an_unknown_method_is_refused_by_name():
    config = tiny_config()
    with pytest.raises(InputError, match="unknown method 'nope'"):
        run_method("nope", config, Lookup.of(config), 10, 0)


def test_labelled_architectures_are_shared_distinct_and_seeded():
    lookup = Lookup.of(tiny_config())
    labelled = lookup.labelled(20, 3)
    assert len(set(labelled)) == 20 and labelled == lookup.labelled(20, 3) != lookup.labelled(20, 4)


@pytest.mark.parametrize("changes, message", [
    ({"budgets": (5,)}, "budgets must be at least 10"),
    ({"seeds": ()}, "need at least one seed"),
    ({"extra": 0}, "extra must be positive"),
    ({"rounds": 0}, "rounds must be positive"),
    ({"methods": ("random", "nope")}, "unknown methods"),
])
def test_config_is_validated_on_construction(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**changes)


def test_select_top_percent_ranks_a_value_in_the_space(result):
    assert result.select_top_percent(4.0) == pytest.approx(100 / 144)
    assert result.select_top_percent(float(np.min(result.select_sorted))) == 100.0
