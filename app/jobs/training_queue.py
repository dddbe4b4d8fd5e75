"""The server's training queue: at most ``limit()`` predictors train at once, the rest wait first come
first served (app.jobs.launch gives every training job a turn through one of these)."""
from __future__ import annotations

import threading
from typing import Callable


class TrainingSlots:
    """A first-come-first-served queue in front of at most ``limit()`` concurrent holders."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._changed = threading.Condition()
        self._waiting: list[str] = []
        self._holders: set[str] = set()

    def position(self, job_id: str) -> int | None:
        with self._changed:
            return self._waiting.index(job_id) + 1 if job_id in self._waiting else None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._holders)

    def acquire(self, job_id: str, cancelled: Callable[[], bool]) -> bool:
        """Wait for a slot in arrival order; False when ``cancelled()`` turned true while waiting."""
        with self._changed:
            self._waiting.append(job_id)
            try:
                while True:
                    if cancelled():
                        return False
                    if self._waiting[0] == job_id and len(self._holders) < self._limit():
                        self._holders.add(job_id)
                        return True
                    self._changed.wait(timeout=0.5)  # a Stop on a queued job sets no condition
            finally:
                self._waiting.remove(job_id)
                self._changed.notify_all()

    def release(self, job_id: str) -> None:
        with self._changed:
            self._holders.discard(job_id)
            self._changed.notify_all()
