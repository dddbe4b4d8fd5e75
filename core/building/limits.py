"""Whether an architecture satisfies the build's limits (core.building.constraints): looked up or measured.

Spaces with a look-up table answer from it; spaces that build their networks (OFA) measure each
architecture on this machine as the build reaches it, best-ranked first, so only what is needed is
measured.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from core.building.constraints import Constraint, satisfied
from core.building.lookup import lookup_table
from core.errors import InputError
from core.runs.run import Run


def constraint_check(run: Run, constraints: Sequence[Constraint], warmup: int = 5, repeats: int = 20
                     ) -> tuple[Callable[[str], bool], str]:
    """spec -> whether it satisfies every constraint, and how the metrics are known.

    From the space's look-up table when one ships; otherwise, for spaces that build and measure their
    networks (OFA: ``latency_ms``, ``cpu_ms``, ``params_m``, ``flops_m``), by measuring each
    architecture as it comes up, best-ranked first, so only what is needed is measured. Latency is
    timed only when a constraint needs it (FLOPs and parameters are counted from one forward pass),
    with ``warmup`` untimed and ``repeats`` timed passes.
    """
    if not constraints:
        return (lambda spec: True), ""
    space = run.space
    table, source = lookup_table(run)
    if table is not None or not space.can_measure:
        return (lambda spec: bool(satisfied(constraints, [spec], table, source)[0])), f"looked up in {source}"
    timed = any(c.column in ("latency_ms", "cpu_ms") for c in constraints)
    passes = {"warmup": warmup, "repeats": repeats} if timed else {"warmup": 0, "repeats": 1}

    def fits(spec: str) -> bool:
        measured = space.measure(spec, space.measures[0], **passes)
        for c in constraints:
            if c.column not in measured:
                numeric = [k for k, v in measured.items() if isinstance(v, (int, float))]
                raise InputError(f"constraint column {c.column!r} cannot be measured on space {space.name!r}; "
                                 f"it measures {numeric}")
        return all(bool(c.holds(np.array([measured[c.column]]))[0]) for c in constraints)

    return fits, "measured on this machine" if timed else "counted on this machine"
