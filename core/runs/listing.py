"""The run list: every run under a folder, each file checked without loading its model (core/runs/run.py).

A run whose files are damaged (a hand-edited metrics.json with strings where numbers belong, a table.csv
that is a symlink to /dev/zero, a truncated config) is listed as damaged with the one-line reason
(:func:`core.runs.loading.check_run`), never dropped silently and never able to break a page that lists
runs: pages that need a usable run take :func:`list_runs`, the Train page's list shows both.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.runs.loading import CONFIG_FILE, MODEL_FILE, NO_SPLIT, check_run


@dataclass
class RunSummary:
    """One line of the run list: enough to choose a run without loading its model. ``damaged`` is the
    reason a run cannot be used (empty for a good run); a damaged run's other fields are placeholders."""

    path: Path
    name: str
    space: str
    dataset: str | None
    target: str
    rows: int
    created: str
    spearman: float | None
    #: False when the run had no validation split: ``spearman`` is then its fit to its training rows.
    held_out: bool = True
    damaged: str = ""


def list_runs(root: str | Path = "runs", *, damaged: bool = False) -> list[RunSummary]:
    """Every usable run directly under ``root``, newest first; with ``damaged``, also the runs whose
    files are damaged (after the good ones, by name). Staging directories (hidden) and name claims of
    trainings in progress (empty directories) are not runs and are skipped."""
    root = Path(root)
    good, bad = [], []
    if not root.is_dir():
        return good
    for path in root.iterdir():
        if path.name.startswith(".") or not path.is_dir() or path.is_symlink():
            continue
        if not (path / CONFIG_FILE).exists() and not (path / MODEL_FILE).exists():
            continue  # an empty claim or someone's folder, not a run
        try:
            config, metrics = check_run(path)
        except InputError as err:
            if damaged:
                bad.append(RunSummary(path, path.name, "?", None, "?", 0, "", None, damaged=str(err)))
            continue
        heldout = metrics.get("heldout")
        rho = heldout.get("spearman") if isinstance(heldout, dict) else None
        good.append(RunSummary(path, path.name, config.space, config.dataset, config.target, int(config.rows),
                               str(config.created or ""), None if rho is None or rho != rho else float(rho),
                               metrics.get("heldout_split", "validation") != NO_SPLIT))
    return sorted(good, key=lambda r: r.created, reverse=True) + sorted(bad, key=lambda r: r.name)
