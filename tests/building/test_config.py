"""The build's named settings are validated on construction, and the cell readout uses the graph's one order."""
import pytest

from core.building.config import BuildConfig
from core.building.pool import cell_readout
from core.errors import SpecError
from core.graph import ArchGraph, check_dag, topological_order


@pytest.mark.parametrize("field", ["top", "k", "ranked_per_built", "ranked_per_built_constrained",
                                   "latency_repeats", "candidate_chunk"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_positive_settings_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        BuildConfig(**{field: value})


@pytest.mark.parametrize("field", ["latency_warmup", "pool_mutations"])
def test_non_negative_settings_are_validated(field):
    BuildConfig(**{field: 0})
    with pytest.raises(ValueError, match=field):
        BuildConfig(**{field: -1})


def test_ranked_depth_grows_under_constraints():
    from core.building.constraints import parse_constraints

    assert BuildConfig(top=3).ranked == 12
    assert BuildConfig(top=3, constraints=parse_constraints(["latency <= 1"])).ranked == 150
    assert BuildConfig(top=3, ranked_per_built=7).ranked == 21


def test_topological_order_puts_every_source_before_its_destination():
    edges = [(3, 1), (0, 3), (1, 2), (0, 2), (4, 2)]
    graph = ArchGraph([{"op": str(i)} for i in range(5)], edges)
    order = graph.topological_order
    assert sorted(order) == list(range(5))
    assert all(order.index(s) < order.index(d) for s, d in edges)
    assert graph.topological_order is order  # computed once
    assert cell_readout(graph) == ([2], 3)  # 0 -> 3 -> 1 -> 2
    with pytest.raises(SpecError, match="cycle"):
        topological_order(3, [(0, 1), (1, 2), (2, 0)])
    with pytest.raises(SpecError, match="cycle"):
        check_dag(2, [(0, 1), (1, 0)])
