"""How long a long command has left, from its pace so far: the line ``benchmark``, ``search``, ``train``
and ``loop run`` print as they go, so that a user knows whether to wait or to cut the job down."""
from __future__ import annotations

import time
from typing import Callable


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min``, ``1 h 05 min``: as precise as a wait needs."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Eta:
    """Remaining time of ``total`` equal-ish steps, extrapolated from the mean pace of those done."""

    def __init__(self, total: int, clock: Callable[[], float] = time.perf_counter) -> None:
        if total < 1:
            raise ValueError(f"total must be positive, not {total}")
        self.total = total
        self._clock = clock
        self._start = clock()

    def remaining(self, done: int) -> float | None:
        """Seconds left after ``done`` steps; None before the first step (no pace yet)."""
        if done <= 0:
            return None
        return (self._clock() - self._start) / done * max(0, self.total - done)

    def line(self, done: int) -> str:
        """``3/40 done, 12 s elapsed, about 2 min left``."""
        elapsed = self._clock() - self._start
        left = self.remaining(done)
        return (f"{done}/{self.total} done, {format_seconds(elapsed)} elapsed"
                + ("" if left is None else f", about {format_seconds(left)} left"))
