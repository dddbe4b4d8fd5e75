"""Building architectures from the best modules of a trained run (docs/design.md 2.8).

Two builders, chosen by the space: :mod:`core.unit_build` for spaces that declare units (the
paper's method), :mod:`core.module_build` for spaces without (whole cells from the pool of
:mod:`core.cell_pool`). Limits are checked by :mod:`core.measured_limits`; true metrics come from
:mod:`core.metric_lookup`; settings and result types are in :mod:`core.build_config`.
"""
from __future__ import annotations

from typing import Callable

from core.build_config import CELL_SCORES, MAX_POOL, UNIT_HOPS, BuildConfig, BuildResult  # noqa: F401
from core.cell_pool import CellPool, build_pool, cell_readout, pool_for, position_of  # noqa: F401
from core.metric_lookup import add_lookup, lookup_table, with_lookup  # noqa: F401
from core.module_build import build_from_modules
from core.runs import Run
from core.unit_build import build_from_units

Progress = Callable[[str, float], None]


def build_architectures(run: Run, config: BuildConfig = BuildConfig(),
                        progress: Progress | None = None) -> BuildResult:
    """Build ``config.top`` architectures from the best modules of ``run``'s space."""
    report = progress or (lambda stage, fraction: None)
    space = run.space
    if space.has_units:
        result = build_from_units(run, space, config, report)
    else:
        result = build_from_modules(run, space, config, report)
    report("predicting", 0.95)
    graphs = [space.to_graph(spec) for spec in result.built["arch"]]
    result.built["predicted"] = run.predict(graphs).values if graphs else []
    add_lookup(run, result.built)
    report("done", 1.0)
    return result
