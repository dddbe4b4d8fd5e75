"""Run directory names, claimed with one ``mkdir`` before any work is spent on them (core/runs/run.py)."""
from __future__ import annotations

from pathlib import Path

from core.errors import InputError


class RunNameTaken(InputError):
    """A run directory name already used by a saved run or claimed by a training in progress."""


def claim_run_dir(root: str | Path, name: str, *, unique: bool = False) -> Path:
    """Reserve ``root/name`` for a run about to be trained, before any work is spent on it.

    The claim is an empty directory made with one ``mkdir``, which the filesystem grants to exactly one
    caller even across processes; :func:`save_run` then fills it (an empty directory is not a clash).
    ``unique``: on a clash try ``name-2``, ``name-3``, ... until one is free (automatic names); else
    raise :class:`RunNameTaken`. Give the claim back with :func:`release_run_dir` if training fails.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    candidates = [name] + ([f"{name}-{i}" for i in range(2, 10_000)] if unique else [])
    for candidate in candidates:
        path = root / candidate
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunNameTaken(f"a run named {name!r} already exists or is being trained in {root}")


def release_run_dir(path: str | Path) -> None:
    """Give back a claim that never became a run: removes ``path`` only while it is still empty."""
    try:
        Path(path).rmdir()
    except OSError:  # filled by a saved run, or already gone
        pass
