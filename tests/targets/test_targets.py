"""Target expressions: correct values, the paper's presets, refused injections, excluded rows."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from core.errors import TargetError
from core.targets.expression import MAX_LENGTH
from core.targets.target import (
    PRESETS,
    Target,
    evaluate_target,
    latency_unit,
    parse_target,
    preset_expression,
    target_warnings,
)


@pytest.fixture
def df() -> pd.DataFrame:
    # A non-default index: results must keep it, while excluded rows are counted by position.
    return pd.DataFrame(
        {
            "arch": ["a", "b", "c", "d"],
            "acc": [0.91, 0.52, 0.77, 0.66],
            "latency": [12.0, 3.5, 40.0, 7.25],
            "top-1 acc": [91.0, 52.0, 77.0, 66.0],
        },
        index=[10, 11, 12, 13],
    )


# ------------------------------------------------------------------------ evaluation

def test_power_target_matches_numpy(df):
    result = parse_target("100**acc", df.columns).evaluate(df)
    assert result.dtype == np.float64
    assert list(result.index) == [10, 11, 12, 13]
    np.testing.assert_allclose(result.to_numpy(), np.power(100.0, df["acc"].to_numpy()))


def test_accuracy_latency_target_matches_numpy(df):
    result = parse_target("100**acc / log10(latency)", df.columns).evaluate(df)
    expected = np.power(100.0, df["acc"].to_numpy()) / np.log10(df["latency"].to_numpy())
    np.testing.assert_allclose(result.to_numpy(), expected)


def test_operators_functions_and_precedence(df):
    acc, lat = df["acc"].to_numpy(), df["latency"].to_numpy()
    expr = "-acc + 2*sqrt(latency) - exp(acc)/3 + abs(-log(latency)) ** 2 + +acc - 1e-3"
    expected = -acc + 2 * np.sqrt(lat) - np.exp(acc) / 3 + np.abs(-np.log(lat)) ** 2 + acc - 1e-3
    np.testing.assert_allclose(parse_target(expr, df.columns).evaluate(df).to_numpy(), expected)


def test_columns_used_in_order_of_first_use(df):
    assert parse_target("latency / acc + acc * latency", df.columns).columns == ("latency", "acc")


def test_backtick_quotes_a_column_that_is_not_an_identifier(df):
    target = parse_target("100**(`top-1 acc`/100)", df.columns)
    assert target.columns == ("top-1 acc",)
    np.testing.assert_allclose(target.evaluate(df).to_numpy(), np.power(100.0, df["acc"].to_numpy()))


def test_huge_integer_powers_overflow_instead_of_hanging(df):
    # Python ints would compute 10**10**10 exactly (practically forever); float64 gives inf at once.
    start = time.perf_counter()
    result = parse_target("10**10**10 * acc", df.columns).evaluate(df)
    assert time.perf_counter() - start < 1.0
    assert np.isinf(result).all()


# --------------------------------------------------------------------------- presets

def test_presets_are_the_papers_two_targets():
    assert set(PRESETS) == {"100**acc", "100**acc / log10(latency)"}


def test_preset_expression_uses_the_tables_column_names(df):
    assert preset_expression("100**acc", "valid_acc") == "100**valid_acc"
    expr = preset_expression("100**acc / log10(latency)", "acc", "latency", "ms")
    assert expr == "100**acc / log10(latency)"
    assert parse_target(expr, df.columns).columns == ("acc", "latency")


def test_latency_preset_means_milliseconds_whatever_the_columns_unit():
    assert preset_expression("100**acc / log10(latency)", "acc", "latency", "s") == "100**acc / log10(1000*latency)"
    assert preset_expression("100**acc / log10(latency)", "acc", "t us", "us") == "100**acc / log10(`t us`/1000)"
    with pytest.raises(TargetError, match="needs the unit of latency column 'latency'"):
        preset_expression("100**acc / log10(latency)", "acc", "latency")


def test_latency_unit_comes_from_the_name_or_the_space_never_the_values():
    from core.spaces import get_space

    assert latency_unit("latency_ms") == "ms" and latency_unit("cpu_s") == "s" and latency_unit("gpu_us") == "us"
    assert latency_unit("latency") is None
    assert latency_unit("latency", get_space("nasbench-graph")) == "s"


def test_on_nasbench_graph_the_latency_preset_ranks_accurate_architectures_higher():
    """The issue: log10 of seconds is negative, so the old preset ranked the worst first (Spearman -0.85)."""
    from scipy.stats import spearmanr

    from core.spaces import get_space
    from tests.conftest import SAMPLE

    table = pd.read_csv(SAMPLE / "nasbench-graph_cora_300.csv")
    unit = latency_unit("latency", get_space("nasbench-graph"))
    values = evaluate_target(table, preset_expression("100**acc / log10(latency)", "valid_perf", "latency", unit))
    assert values.values.min() > 0
    assert spearmanr(values.values, table.valid_perf[values.kept]).statistic > 0.3
    assert target_warnings(table, preset_expression("100**acc / log10(latency)", "valid_perf", "latency", unit)) == []
    (warning,) = target_warnings(table, "100**valid_perf / log10(latency)")
    assert "'log10(latency)' (column 'latency')" in warning and "negative in every row" in warning
    assert "milliseconds" in warning


def test_a_divisor_crossing_zero_is_named(df):
    (warning,) = target_warnings(df, "acc / (`top-1 acc` - 70)")
    assert "column 'top-1 acc'" in warning and "crossing zero" in warning and "-18 .. 21" in warning
    assert target_warnings(df, "100**acc / log10(latency)") == []  # latency in ms, all > 1
    assert target_warnings(df, "acc / 100 - latency") == []  # constant divisors and no division


def test_preset_expression_backtick_quotes_awkward_names(df):
    expr = preset_expression("100**acc", "top-1 acc")
    assert expr == "100**`top-1 acc`"
    assert parse_target(expr, df.columns).columns == ("top-1 acc",)


def test_unknown_preset_and_missing_latency_column_are_refused():
    with pytest.raises(TargetError, match="unknown target preset 'best'"):
        preset_expression("best", "acc")
    with pytest.raises(TargetError, match="needs a latency column"):
        preset_expression("100**acc / log10(latency)", "acc")


# -------------------------------------------------------------------------- refusals

@pytest.mark.parametrize(
    "expression, token",
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("acc.__class__", "attributes are not allowed ('.__class__')"),
        ("open('x')", "unknown function 'open'"),
        ("acc[0]", "indexing is not allowed ('acc[0]')"),
        ('"str"', "strings are not allowed ('\"str\"')"),
        ("lambda: 1", "lambdas are not allowed ('lambda: 1')"),
        ("(lambda: 1)()", "('lambda: 1')"),
        ("[x for x in acc]", "comprehensions are not allowed"),
        ("log(acc, 2)", "log() takes one argument, got 2"),
        ("log(x=acc)", "keyword arguments are not allowed ('x=acc')"),
        ("acc // 2", "operator '//' is not allowed"),
        ("acc if latency else 1", "comparisons and conditions are not allowed"),
        ("acc.real()", "('acc.real')"),
        ("True * acc", "only real numbers are allowed ('True')"),
        ("1j * acc", "only real numbers are allowed ('1j')"),
        ("(x := acc)", "assignments are not allowed"),
        ("log", "'log' is a function"),
        ("acc; import os", "not a valid expression"),
    ],
)
def test_unsafe_or_malformed_expressions_are_refused_naming_the_token(df, expression, token):
    with pytest.raises(TargetError) as info:
        parse_target(expression, df.columns)
    message = str(info.value)
    assert token in message
    assert "\n" not in message


def test_unknown_name_lists_the_columns(df):
    with pytest.raises(TargetError) as info:
        parse_target("100**foo", df.columns)
    assert "unknown name 'foo'" in str(info.value)
    assert "columns are ['arch', 'acc', 'latency', 'top-1 acc']" in str(info.value)


def test_unknown_name_suggests_a_close_column(df):
    with pytest.raises(TargetError, match="did you mean 'latency'"):
        parse_target("log10(latncy)", df.columns)


def test_unknown_backtick_column_is_named(df):
    with pytest.raises(TargetError, match="unknown name 'top-5 acc'"):
        parse_target("`top-5 acc`", df.columns)
    with pytest.raises(TargetError, match="unmatched backtick"):
        parse_target("`acc", df.columns)


def test_too_long_expression_is_refused(df):
    with pytest.raises(TargetError, match=f"the limit is {MAX_LENGTH}"):
        parse_target("acc" + " + acc" * 100, df.columns)


@pytest.mark.parametrize(
    "expression",
    ["-" * 100 + "acc", "log(" * 40 + "acc" + ")" * 40, "(" * 220 + "acc" + ")" * 220],
)
def test_deep_expressions_are_refused(df, expression):
    with pytest.raises(TargetError, match="nested too deeply|not a valid expression"):
        parse_target(expression, df.columns)


def test_constant_target_is_refused(df):
    with pytest.raises(TargetError, match="uses no column"):
        parse_target("42", df.columns)


def test_evaluate_revalidates_a_hand_built_target(df):
    with pytest.raises(TargetError, match="attributes are not allowed"):
        Target("acc.__class__", ("acc",)).evaluate(df)


def test_non_numeric_column_is_named_with_its_row():
    frame = pd.DataFrame({"acc": ["0.5", "0.7", "oops"]})
    with pytest.raises(TargetError, match=r"column 'acc' is not numeric \(row 3: 'oops'\)"):
        parse_target("acc", frame.columns).evaluate(frame)


# ------------------------------------------------------------------- excluded rows

def test_nan_and_infinite_rows_are_excluded_and_reported():
    frame = pd.DataFrame(
        {
            "acc": [0.9, 0.8, np.nan, 0.7, 0.6, 0.5, 0.4],
            "latency": [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 1.0],  # log10(1) = 0: division by zero
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide/overflow warnings would be noise here
        result = evaluate_target(frame, parse_target("100**acc / log10(latency)", frame.columns))
    assert result.excluded_rows == [2, 6]
    assert result.kept.tolist() == [True, True, False, True, True, True, False]
    with np.errstate(divide="ignore"):
        expected = np.power(100.0, frame["acc"].to_numpy()) / np.log10(frame["latency"].to_numpy())
    np.testing.assert_allclose(result.values, expected[result.kept])
    assert result.values.dtype == np.float64
    assert result.summary() == "2 rows excluded because the target is NaN or infinite: rows 3, 7"


def test_overflow_and_invalid_log_are_excluded_silently():
    frame = pd.DataFrame({"acc": [0.9, 400.0, -1.0]})  # 100**400 overflows; log(-1) is NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate_target(frame, "100**acc + log(acc + 0.5)")
    assert result.excluded_rows == [1, 2]
    assert result.summary().startswith("2 rows excluded")


def test_summary_when_nothing_is_excluded(df):
    result = evaluate_target(df, "acc")
    assert result.excluded_rows == []
    assert result.kept.all()
    assert "no rows excluded" in result.summary()


def test_target_that_is_never_finite_is_an_error():
    frame = pd.DataFrame({"latency": [1.0, 1.0]})
    with pytest.raises(TargetError, match="NaN or infinite in every row"):
        evaluate_target(frame, "1 / log10(latency)")


def test_a_finite_target_too_large_to_train_on_is_excluded_and_named():
    # 1e308 is finite, but standardising it overflows: the whole training table would turn NaN.
    frame = pd.DataFrame({"acc": [0.9, 1e308, 0.5, -1e151]})
    result = evaluate_target(frame, "acc")
    assert result.excluded_rows == [1, 3] and result.huge_rows == [1, 3]
    assert result.values.tolist() == [0.9, 0.5]
    assert result.summary() == "2 rows excluded because the target is NaN, infinite or beyond ±1e+150: rows 2, 4"
