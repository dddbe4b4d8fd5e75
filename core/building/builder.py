"""Building architectures from the best modules of a trained run (docs/design.md 2.8).

Two builders, chosen by the space: :mod:`core.building.units` for spaces that declare units (the
paper's method), :mod:`core.building.modules` for spaces without (whole cells from the pool of
:mod:`core.building.pool`). Limits are checked by :mod:`core.building.limits`; true metrics come from
:mod:`core.building.lookup`; settings and result types are in :mod:`core.building.config`.
"""
from __future__ import annotations

from typing import Callable

from core.building.config import BuildConfig, BuildResult
from core.building.lookup import add_lookup
from core.building.modules import build_from_modules
from core.building.units import build_from_units
from core.runs.run import Run
from core.scoring.modules import trust_note

Progress = Callable[[str, float], None]


def build_architectures(run: Run, config: BuildConfig = BuildConfig(),
                        progress: Progress | None = None) -> BuildResult:
    """Build ``config.top`` architectures from the best modules of ``run``'s space, reading only hops the run
    trusts (:func:`core.scoring.modules.trusted_hops`; the result's notes name the hops it ignored)."""
    report = progress or (lambda stage, fraction: None)
    space = run.space
    if space.has_units:
        result = build_from_units(run, space, config, report)
    else:
        result = build_from_modules(run, space, config, report)
    note = trust_note(run)
    if note:
        result.notes = f"{result.notes}; {note}" if result.notes else note
    report("predicting", 0.95)
    graphs = [space.to_graph(spec) for spec in result.built["arch"]]
    result.built["predicted"] = run.predict(graphs).values if graphs else []
    add_lookup(run, result.built)
    report("done", 1.0)
    return result
