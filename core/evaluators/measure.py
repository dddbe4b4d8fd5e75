"""Measured evaluation: build each architecture as a real network here and measure it (OFA
subnets: latency, CPU time, parameters, FLOPs; core.spaces.ofa_common.OFASpace.measure)."""
from __future__ import annotations

from typing import Any

from core.errors import InputError
from core.evaluators.base import ArchEvaluator, EvaluationError
from core.spaces import get_space

#: Columns a space's ``measure`` returns that are numbers (it also returns ``device``).
MEASURED_COLUMNS = ("latency_ms", "cpu_ms", "params_m", "flops_m")


class MeasureEvaluator(ArchEvaluator):
    """space: a space that can build networks (``measures`` not empty); metric: what to measure
    (``latency``); threads: torch threads per measurement; warmup, repeats: timing protocol;
    device: ``cpu`` or ``cuda``."""

    name = "measure"

    def __init__(self, space: str, metric: str = "latency", threads: int = 1, warmup: int = 5, repeats: int = 20,
                 device: str = "cpu") -> None:
        found = get_space(space)
        if metric not in found.measures:
            raise InputError(f"space {space!r} can measure {list(found.measures)}, not {metric!r}")
        if threads < 1 or warmup < 0 or repeats < 1:
            raise InputError(f"need threads >= 1, warmup >= 0, repeats >= 1; got {threads}, {warmup}, {repeats}")
        self._space, self.metric, self.threads = found.name, metric, int(threads)
        self.warmup, self.repeats, self.device = int(warmup), int(repeats), device

    @property
    def space_name(self) -> str:
        return self._space

    def metrics(self) -> tuple[str, ...]:
        return MEASURED_COLUMNS

    def evaluate_one(self, spec: str) -> dict[str, float]:
        try:
            measured = get_space(self._space).measure(spec, self.metric, device=self.device, threads=self.threads,
                                                      warmup=self.warmup, repeats=self.repeats)
        except InputError as err:
            raise EvaluationError(str(err)) from None
        return {c: float(measured[c]) for c in MEASURED_COLUMNS}

    def task_resources(self) -> dict[str, float]:
        # A latency is only comparable when nothing else runs beside it: the executor gives each
        # measurement a whole node (core.evaluators.executors.RayExecutor, ``exclusive``).
        resources: dict[str, float] = {"num_cpus": self.threads}
        if self.device.startswith("cuda"):
            resources["num_gpus"] = 1
        return resources

    @property
    def exclusive(self) -> bool:
        """Timings need the machine alone: one measurement per node at a time."""
        return self.metric == "latency"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "space": self._space, "metric": self.metric, "threads": self.threads,
                "warmup": self.warmup, "repeats": self.repeats, "device": self.device}

    def describe(self) -> str:
        return f"{self.metric} measured on {self.device} ({self.threads} thread(s), median of {self.repeats})"
