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
