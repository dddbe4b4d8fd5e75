import numpy as np
import pandas as pd
import pytest

from core.building.constraints import (
    Constraint,
    parse_constraint,
    parse_constraints,
    satisfied,
)
from core.errors import InputError


@pytest.mark.parametrize("text, expected", [
    ("latency <= 0.004", Constraint("latency", "<=", 0.004)),
    ("para<1.5", Constraint("para", "<", 1.5)),
    ("  analog_accuracy >= 80 ", Constraint("analog_accuracy", ">=", 80.0)),
    ("flops_m > -1e3", Constraint("flops_m", ">", -1000.0)),
    ("x<=.5", Constraint("x", "<=", 0.5)),
])
def test_constraints_parse(text, expected):
    assert parse_constraint(text) == expected


@pytest.mark.parametrize("text", ["latency == 3", "latency <= fast", "<= 3", "__import__('os') < 1",
                                  "latency <= 3; para < 1", "latency"])
def test_anything_else_is_a_one_line_error(text):
    with pytest.raises(InputError, match="is not 'column <= number'") as err:
        parse_constraint(text)
    assert "\n" not in str(err.value)


def test_several_constraints_all_must_hold():
    assert parse_constraints(["a <= 1, b > 2", "c < 3"]) == parse_constraints("a<=1,b>2,,c<3")
    table = pd.DataFrame({"a": [0.5, 2.0, 0.1, np.nan], "b": [3, 3, 1, 3]}, index=["p", "q", "r", "s"])
    mask = satisfied(parse_constraints("a <= 1, b > 2"), ["p", "q", "r", "s", "unknown"], table, "t")
    assert mask.tolist() == [True, False, False, False, False]  # NaN and missing specs never satisfy
    assert satisfied((), ["p"], None, "t").tolist() == [True]
    with pytest.raises(InputError, match="'z' is not in t; its metrics are \\['a', 'b'\\]"):
        satisfied(parse_constraints("z < 1"), ["p"], table, "t")
    with pytest.raises(ValueError):
        Constraint("a", "==", 1.0)
