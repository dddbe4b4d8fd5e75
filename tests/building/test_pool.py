"""The cell pool pauses the cycle collector (core.gc_pause) only while it builds, and restores its state after."""
import gc

import pytest

from core.building.pool import CellPool
from core.errors import SpecError
from core.spaces import get_space


@pytest.mark.parametrize("enabled", [True, False])
def test_pool_leaves_the_collector_as_it_found_it(enabled):
    space = get_space("nasbench-graph")
    specs = list(space.enumerate())[:50]
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        pool = CellPool(space, specs, space.schema())
        assert len(pool) == 50 and gc.isenabled() is enabled
        with pytest.raises(SpecError):
            CellPool(space, specs[:3] + ["not a spec"], space.schema())
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_run_on_a_dataset_that_evaluates_part_of_the_space_builds_from_that_part():
    from types import SimpleNamespace

    from core.building.pool import pool_for
    from core.spaces import get_space

    space = get_space("nasbench-graph")
    evaluated = [str(a) for a in space.metrics_table("proteins")["arch"]]  # 2,021 of 26,206: five ops of nine
    schema = space.schema([space.to_graph(a) for a in evaluated[:50]])
    run = SimpleNamespace(space=space, dataset="proteins", schema=schema)
    pool = pool_for(run)
    assert sorted(pool.specs) == sorted(evaluated)  # no architecture with an op proteins never evaluated
    whole = pool_for(SimpleNamespace(space=space, dataset="cora", schema=schema))
    assert len(whole) == space.size() == 26206
