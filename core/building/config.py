"""The build's settings and result (docs/design.md 2.8): :class:`BuildConfig` and :class:`BuildResult`.

Free of torch, so that ``python -m core build --help`` can show the choices and defaults at once;
:mod:`core.building.builder` runs a build.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from core.building.constraints import Constraint

#: Most architectures a module-based build scores in its pool (the enumerated space or a sample).
MAX_POOL = 200_000

#: How the module build scores a whole cell (``BuildConfig.cell_score``).
CELL_SCORES = ("sink", "graph")

#: How the module build orders the ops of a position (``BuildConfig.module_order``): ``"estimate"``, the
#: Modules page's rule (each op's estimated mean target over the pool's architectures holding it), or
#: ``"score"``, the paper's norm readout (the mean cell score of those architectures, shrunk by their count).
MODULE_ORDERS = ("estimate", "score")

#: Which hop a unit candidate is read at (``BuildConfig.unit_hop``): ``"unit"``, the deepest hop of
#: its unit, so all candidates of a unit are compared at one hop (the default), or ``"depth"``, its
#: own ``depth - 1`` (the paper's). See :mod:`core.building.units` for why.
UNIT_HOPS = ("unit", "depth")


@dataclass(frozen=True)
class BuildConfig:
    """top: N, the number of architectures to build; k: candidates kept per unit (or per position);
    cell_score (module build only): ``"sink"``, the paper's unit readout (the last node at hop
    ``min(depth, L)``), or ``"graph"``, the graph embedding's L1 norm at hop L, the quantity the
    magnitude-ranked loss trains to rank architectures; module_order (module build only): a key of
    :data:`MODULE_ORDERS`, which ops of a position are kept; unit_hop (unit build only): a key of
    :data:`UNIT_HOPS`; constraints: only reduced-space members whose metrics satisfy every one are
    built (core.building.constraints; looked up in the space's table, or measured where the space can).

    How much work the build does (none changes which architecture ranks where):
    ranked_per_built: the unit build ranks ``top * ranked_per_built`` best unit combinations per
    global setting before assembling (duplicates are skipped, so it needs some to spare);
    ranked_per_built_constrained: the same under constraints, where many of the best may fail them;
    latency_warmup / latency_repeats: untimed and timed forward passes when a latency limit is
    measured; pool_mutations: one-step mutations of every training architecture added to the pool of
    a space too large to enumerate; candidate_chunk: unit candidates encoded and scored at a time (a
    merged ProxylessNAS unit has 66,339; only one chunk of graphs is held).
    """

    top: int = 4
    k: int = 3
    cell_score: str = "sink"
    module_order: str = "estimate"
    unit_hop: str = "unit"
    constraints: tuple[Constraint, ...] = ()
    ranked_per_built: int = 4
    ranked_per_built_constrained: int = 50
    latency_warmup: int = 5
    latency_repeats: int = 20
    pool_mutations: int = 4
    candidate_chunk: int = 8192

    def __post_init__(self) -> None:
        if not all(isinstance(c, Constraint) for c in self.constraints):
            raise ValueError(f"constraints must be Constraint objects, not {self.constraints!r}")
        if self.unit_hop not in UNIT_HOPS:
            raise ValueError(f"unit_hop must be one of {list(UNIT_HOPS)}, not {self.unit_hop!r}")
        if self.module_order not in MODULE_ORDERS:
            raise ValueError(f"module_order must be one of {list(MODULE_ORDERS)}, not {self.module_order!r}")
        if self.cell_score not in CELL_SCORES:
            raise ValueError(f"cell_score must be one of {list(CELL_SCORES)}, not {self.cell_score!r}")
        for name in ("top", "k", "ranked_per_built", "ranked_per_built_constrained", "latency_repeats",
                     "candidate_chunk"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        for name in ("latency_warmup", "pool_mutations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")

    @property
    def ranked(self) -> int:
        """How many best unit combinations the unit build ranks per global setting."""
        return self.top * (self.ranked_per_built_constrained if self.constraints else self.ranked_per_built)


@dataclass
class BuildResult:
    """built: arch, score, predicted (+ true_<metric> and percentile when a look-up table ships);
    units: the kept top-k per unit or position (unit, rank, label, score); reduced_space_size;
    method: "units" or "modules"; reduced_specs: the reduced space when it was enumerated, best-ranked
    first (only the members that satisfy the constraints; ``reduced_space_size`` counts them all)."""

    built: pd.DataFrame
    units: pd.DataFrame
    reduced_space_size: int
    method: str
    notes: str = ""
    reduced_specs: list[str] = field(default_factory=list)
