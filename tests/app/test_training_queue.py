"""app.jobs.training_queue: a bounded number of holders, waiting ones served in arrival order, leaving on cancel."""
from __future__ import annotations

import pytest

import threading
import time

from app.jobs.training_queue import TrainingSlots


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.slow
def test_waiting_jobs_start_in_arrival_order_and_a_cancelled_one_leaves_the_queue():
    slots = TrainingSlots(lambda: 1)
    assert slots.acquire("a", lambda: False)
    got: dict[str, bool] = {}
    cancel_c = threading.Event()
    threads = {}
    for name, cancelled in (("b", lambda: False), ("c", cancel_c.is_set), ("d", lambda: False)):
        threads[name] = threading.Thread(target=lambda n=name, c=cancelled: got.__setitem__(n, slots.acquire(n, c)))
        threads[name].start()
        _until(lambda n=name: slots.position(n) is not None)  # in the queue before the next arrives
    assert [slots.position(n) for n in "bcd"] == [1, 2, 3] and slots.running == 1
    slots.release("a")
    threads["b"].join(5)
    assert got == {"b": True} and [slots.position(n) for n in "cd"] == [1, 2]
    cancel_c.set()
    threads["c"].join(5)
    assert got["c"] is False and slots.position("d") == 1, "a cancelled job gives its place up"
    assert "d" not in got, "the bound holds: b still trains"
    slots.release("b")
    threads["d"].join(5)
    assert got["d"] is True and slots.waiting == 0 and slots.running == 1
