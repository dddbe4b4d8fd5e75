"""Pausing Python's cycle collector while many small acyclic objects are made (pools of graphs).

Making the 26,206 NAS-Bench-Graph graphs (or enumerating their keys) allocates a few hundred
thousand dicts, lists and tuples; with torch's large heap loaded, the collector's repeated passes
over that heap took about 3/4 of the time. What is made there holds no reference cycles, so nothing
is left for the collector once it resumes; reference counting still frees everything as usual.
"""
from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Disable the cycle collector inside the block; restore its previous state after (also on errors)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
